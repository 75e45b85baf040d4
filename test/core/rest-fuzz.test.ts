import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import { generateKey } from '../../core/auth/keys.js'
import { fakePlugin, testApp } from '../helpers/app.js'

/**
 * Hostile REST input: generated paths, bodies, query strings and headers
 * against every route. Nothing may get a 5xx, every refusal carries a
 * PARLEY_ERR_* code, and the host answers /health afterwards. Most requests
 * carry a valid admin key (so the routes themselves are fuzzed, not only the
 * 401 path); the rest carry keys of one scope, none, or garbage.
 */
const RUNS = Number(process.env.PARLEY_FUZZ_RUNS ?? 10_000)

/** Strings a client might send where an id or address goes. */
const segment = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom(
    'fake:a@fake.test',
    'fake:',
    ':',
    'xmpp:x@y',
    '..',
    '%00',
    '%ff',
    '%2F',
    'a'.repeat(2000),
  ),
  fc.uuid(),
  fc.string({ unit: 'binary', maxLength: 30 }),
)

/** JSON-ish bodies: anything, and near-misses of the real shapes. */
const body = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record(
    {
      to: segment,
      from: segment,
      text: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
      address: segment,
      identity: segment,
      addresses: fc.array(segment, { maxLength: 5 }),
      kind: fc.string({ maxLength: 10 }),
      scopes: fc.array(fc.string({ maxLength: 15 }), { maxLength: 3 }),
      // Policy edits: edge flags, providers, access flags, partners, whole policies.
      allowFederatedUsers: fc.oneof(fc.boolean(), segment),
      partnerDiscovery: fc.boolean(),
      name: segment,
      network: segment,
      proxyFqdn: segment,
      enabled: fc.oneof(fc.boolean(), fc.constant('yes')),
      verificationLevel: fc.constantFrom('AlwaysVerifiable', 'AlwaysUnverifiable', 'Sometimes'),
      xmpp: fc.boolean(),
      publicCloud: fc.oneof(fc.boolean(), fc.integer()),
      tls: fc.constantFrom(true, false, 'Required', 'Optional', 'NotSupported', 'maybe'),
      sasl: fc.constantFrom(true, false, 'Required', 'Optional', 'NotSupported'),
      dialback: fc.oneof(fc.boolean(), fc.constant(null)),
      partnerType: fc.constantFrom('Federated', 'PublicVerified', 'PublicUnverified', 'Foe'),
      policy: fc.jsonValue({ maxDepth: 3 }),
      expectVersion: fc.oneof(fc.integer(), fc.string({ maxLength: 4 })),
    },
    { requiredKeys: [] },
  ),
)

const raw = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom('{', '[', '{"to":', '\u0000', 'null', '"x"', '1e999', '{"__proto__":{"x":1}}'),
)

const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/xml',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  '',
  'application/json; charset=latin1',
)

/** Header values: printable ASCII (what a client can send at all). */
const printable = fc.stringMatching(/^[\x20-\x7e]{0,80}$/)

/** Which Authorization header a request carries (keys are filled in per app). */
const credential = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ key: 'admin' as const }) },
  { weight: 2, arbitrary: fc.constantFrom({ key: 'reader' as const }, { key: 'sender' as const }) },
  { weight: 1, arbitrary: fc.constantFrom({ key: 'revoked' as const }, { key: 'none' as const }) },
  { weight: 1, arbitrary: fc.constant({ key: 'unknown' as const }) },
  { weight: 2, arbitrary: printable.map((raw) => ({ raw })) },
  { weight: 1, arbitrary: printable.map((raw) => ({ raw: `Bearer ${raw}` })) },
)

t.test(`${RUNS} generated requests against every route: no 5xx, every refusal coded`, async (t) => {
  const app = await testApp(t, {
    plugins: [fakePlugin(randomUUID())],
    // One key and one IP send everything here: the rate limits are tested elsewhere.
    security: { rateLimit: { max: 1_000_000, unauthenticatedMax: 1_000_000 } },
  })
  // Every /v1 route the host registered (new ones are fuzzed without editing this file).
  const ROUTES = app.auth
    .routes()
    .filter(
      (r) =>
        r.url.startsWith('/v1') && ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method),
    )
    .map((r) => ({ method: r.method as 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: r.url }))
  t.ok(ROUTES.length >= 30, `${ROUTES.length} routes fuzzed`)
  const revoked = await app.store.apiKeys.create({ scopes: ['admin'] })
  await app.store.apiKeys.revoke(revoked.id)
  const keys = {
    admin: app.config.security.adminKey as string,
    reader: (await app.store.apiKeys.create({ scopes: ['presence:read'] })).key,
    sender: (await app.store.apiKeys.create({ scopes: ['messages:send'] })).key,
    revoked: revoked.key,
    unknown: generateKey().key,
  }
  let authenticated = 0
  let count = 0
  let fiveXx = 0
  const uncoded: string[] = []
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...ROUTES),
      fc.array(segment, { minLength: 2, maxLength: 2 }),
      fc.oneof(
        body.map((b) => ({ json: b })),
        raw.map((r) => ({ raw: r })),
      ),
      contentType,
      fc.dictionary(
        fc.constantFrom('status', 'limit', 'identity', 'addresses', 'direction', 'x'),
        segment,
        {
          maxKeys: 3,
        },
      ),
      credential,
      async (route, [a, b], payload, type, query, who) => {
        count++
        const authorization =
          'raw' in who ? who.raw : who.key === 'none' ? undefined : `Bearer ${keys[who.key]}`
        const url = route.path
          .replace(':name', encodeURIComponent(String(a)))
          .replace(':id', encodeURIComponent(String(a)))
          .replace(':domain', encodeURIComponent(String(a)))
          .replace(':address', encodeURIComponent(String(b)))
        const search = new URLSearchParams(query as Record<string, string>).toString()
        // The SSE stream never ends when the request is valid: cut it short (a stream that
        // started is a success here; a refusal comes back at once).
        const streaming = route.path === '/v1/presence/stream'
        const res = await app
          .inject({
            ...(streaming && { signal: AbortSignal.timeout(30) }),
            method: route.method,
            url: search ? `${url}?${search}` : url,
            headers: {
              authorization,
              ...(route.method !== 'GET' && { 'content-type': type }),
            },
            ...(route.method !== 'GET' && {
              payload: 'json' in payload ? JSON.stringify(payload.json) : payload.raw,
            }),
          })
          .catch((error: unknown) => {
            if (streaming && (error as Error).name === 'AbortError') return undefined
            throw error
          })
        if (!res) {
          authenticated++
          return true
        }
        if (![401, 403, 429].includes(res.statusCode)) authenticated++
        if (res.statusCode >= 500) {
          fiveXx++
          return false
        }
        if (res.statusCode >= 400) {
          const code = (() => {
            try {
              return (res.json() as { code?: string }).code
            } catch {
              return undefined
            }
          })()
          if (!code?.startsWith('PARLEY_ERR_')) {
            uncoded.push(`${route.method} ${url} -> ${res.statusCode} ${res.body.slice(0, 100)}`)
            return false
          }
        }
        return true
      },
    ),
    { numRuns: RUNS },
  )
  t.equal(count >= RUNS, true, `${count} requests sent`)
  t.ok(authenticated > count / 2, `${authenticated} requests got past authentication`)
  t.equal(fiveXx, 0, 'no 5xx')
  t.same(uncoded, [], 'every 4xx carries a PARLEY_ERR_* code')
  const health = await app.inject({ method: 'GET', url: '/health' })
  t.equal(health.statusCode, 200, 'the host is alive')
  console.log(`# fuzz: ${count} requests (${authenticated} authenticated), ${fiveXx} 5xx`)
})
