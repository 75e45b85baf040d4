/**
 * core/policy: Lync Server 2013's federation access model as pure
 * decisions. No I/O: the store, the REST routes and the workers that
 * enforce it build on these. See docs/policy.md.
 */
export * from './decide.js'
export * from './model.js'
export * from './validate.js'
