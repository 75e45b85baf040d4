/**
 * core/contract: the only module plugins and bots may import.
 * Everything here is stable under the contract's semver (CONTRACT_VERSION).
 */
export * from './address.js'
export * from './bot.js'
export * from './errors.js'
export * from './events.js'
export * from './plugin.js'
export * from './presence.js'
export * from './provider.js'
