import { randomUUID } from 'node:crypto'
import t from 'tap'
import { generateKey, SCOPES, type Scope } from '../../../core/auth/keys.js'
import type { RouteAccess } from '../../../core/http/auth.js'
import { fakePlugin, testApp } from '../../helpers/app.js'

type App = Awaited<ReturnType<typeof testApp>>

/**
 * The scopes this change gave the routes that existed. A /v1 route not
 * listed here and not under a prefix below fails the test: decide its scope.
 */
const SCOPE_OF: Record<string, Scope> = {
  'GET /v1/networks': 'presence:read',
  'GET /v1/networks/:name': 'presence:read',
  'GET /v1/presence/:address': 'presence:read',
  'POST /v1/presence/query': 'presence:read',
  'GET /v1/presence/stream': 'presence:read',
  'GET /v1/contacts': 'presence:read',
  'GET /v1/contacts/:id': 'presence:read',
  'POST /v1/contacts': 'contacts:write',
  'DELETE /v1/contacts/:id': 'contacts:write',
  'POST /v1/contacts/:id/approve': 'contacts:write',
  'POST /v1/contacts/:id/refuse': 'contacts:write',
  'POST /v1/messages': 'messages:send',
  'GET /v1/messages': 'messages:send',
  'GET /v1/messages/:id': 'messages:send',
  // The fake network's own route that declares a scope; its other route declares none.
  'GET /v1/networks/fake/online': 'presence:read',
}
/** Everything under these needs admin: the policy, the keys, and what plugins add. */
const ADMIN_PREFIXES = ['/v1/policy', '/v1/keys', '/v1/networks/fake/']

const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

/** A concrete URL for a route pattern; the values only have to get past the router. */
function urlOf(pattern: string): string {
  return pattern
    .replace(':id', randomUUID())
    .replace(':address', 'fake:a@fake.test')
    .replace(':name', 'fake')
    .replace(/:[A-Za-z]+/g, 'x.example')
    .replace('*', 'x')
}

function expectedScope(route: RouteAccess): Scope | undefined {
  const listed = SCOPE_OF[`${route.method === 'HEAD' ? 'GET' : route.method} ${route.url}`]
  if (listed) return listed
  if (ADMIN_PREFIXES.some((p) => route.url === p || route.url.startsWith(p))) return 'admin'
  return undefined
}

async function keysFor(app: App) {
  const keys = {} as Record<Scope, string>
  for (const scope of SCOPES) {
    keys[scope] = (await app.store.apiKeys.create({ name: `only ${scope}`, scopes: [scope] })).key
  }
  const revoked = await app.store.apiKeys.create({ scopes: ['admin'] })
  await app.store.apiKeys.revoke(revoked.id)
  return { keys, revoked: revoked.key }
}

async function appWithRoutes(t: Parameters<typeof testApp>[0]) {
  // Rate limits out of the way: this test sends many requests from one key and one IP.
  const app = await testApp(t, {
    plugins: [fakePlugin(randomUUID())],
    security: { rateLimit: { max: 100_000, unauthenticatedMax: 100_000 } },
  })
  const routes = app.auth.routes().filter((r) => r.url.startsWith('/v1'))
  return { app, routes }
}

t.test('every route is in the access table, and the OpenAPI document agrees', async (t) => {
  const { app, routes } = await appWithRoutes(t)
  t.ok(routes.length >= 17, `${routes.length} /v1 routes`)
  for (const route of routes) {
    const expected = expectedScope(route)
    t.ok(expected, `${route.method} ${route.url} has a decided scope (add it to SCOPE_OF)`)
    t.equal(route.scope, expected, `${route.method} ${route.url} needs ${expected}`)
  }
  t.match(
    routes.filter((r) => r.url.startsWith('/v1/networks/fake/') && r.method === 'GET'),
    [
      { url: '/v1/networks/fake/sent', scope: 'admin' },
      { url: '/v1/networks/fake/online', scope: 'presence:read' },
    ],
    "a plugin's routes need admin unless they declare a scope",
  )
  const all = app.auth.routes()
  t.ok(all.some((r) => r.url === '/health' && r.scope === 'public'))
  for (const r of all.filter((r) => r.scope === 'public')) {
    t.ok(r.url === '/health' || r.url === '/docs' || r.url.startsWith('/docs/'), `${r.url} open`)
  }
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
  t.same(doc.security, [{ apiKey: [] }])
  t.equal(doc.components.securitySchemes.apiKey.scheme, 'bearer')
  t.same(doc.paths['/health'].get.security, [], '/health needs no key')
  for (const [path, methods] of Object.entries(doc.paths as Record<string, object>)) {
    if (!path.startsWith('/v1')) continue
    for (const [method, op] of Object.entries(
      methods as Record<string, { description?: string; responses: object }>,
    )) {
      const url = path.replace(/\{(\w+)\}/g, ':$1')
      const route = routes.find((r) => r.url === url && r.method === method.toUpperCase())
      t.ok(route, `${method} ${path} is in the access table`)
      t.match(op.description, `scope \`${route?.scope}\``, `${method} ${path} documents its scope`)
    }
  }
})

t.test(
  'every /v1 route: 401 without a usable key, 403 with the wrong scope, passes with the right one',
  async (t) => {
    const { app, routes } = await appWithRoutes(t)
    const { keys, revoked } = await keysFor(app)
    const unusable: Array<[string, Record<string, string | undefined>]> = [
      ['no header', { authorization: undefined }],
      ['an empty header', { authorization: '' }],
      ['Basic credentials', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }],
      ['a bare key without Bearer', { authorization: keys.admin }],
      ['a malformed key', bearer('pk_nothex_short')],
      ['an unknown key', bearer(generateKey().key)],
      ['a revoked key', bearer(revoked)],
      ['a wrong secret', bearer(`${keys.admin.slice(0, 12)}${generateKey().secret}`)],
    ]
    for (const route of routes) {
      const scope = route.scope as Scope
      const url = urlOf(route.url)
      const send = (headers: Record<string, string | undefined>) =>
        app.inject({
          method: route.method as 'GET',
          url,
          headers: { ...headers, 'content-type': 'application/json' },
          ...(route.method !== 'GET' && route.method !== 'HEAD' && { payload: '{}' }),
        })
      const name = `${route.method} ${route.url}`
      for (const [what, headers] of unusable) {
        const res = await send(headers)
        t.equal(res.statusCode, 401, `${name} with ${what}: 401`)
        t.match(res.headers['www-authenticate'], /^Bearer realm="parley"/, `${name}: challenge`)
        if (route.method !== 'HEAD') t.equal(res.json().code, 'PARLEY_ERR_UNAUTHORIZED')
      }
      const wrong = SCOPES.filter((s) => s !== scope && s !== 'admin')
      for (const other of wrong) {
        const res = await send(bearer(keys[other]))
        t.equal(res.statusCode, 403, `${name} with a ${other} key: 403`)
        if (route.method !== 'HEAD') {
          t.equal(res.json().code, 'PARLEY_ERR_FORBIDDEN')
          t.match(res.json().message, `'${scope}'`, 'the message names the missing scope')
        }
        t.match(res.headers['www-authenticate'], `error="insufficient_scope", scope="${scope}"`)
      }
      for (const good of new Set<Scope>([scope, 'admin'])) {
        const res = await send(bearer(keys[good]))
        t.notOk(
          [401, 403].includes(res.statusCode) &&
            /PARLEY_ERR_(UNAUTHORIZED|FORBIDDEN)/.test(res.body),
          `${name} with a ${good} key passes (${res.statusCode})`,
        )
      }
    }
  },
)

t.test('/health and /docs are open; an unknown path is 404 with or without a key', async (t) => {
  const app = await testApp(t)
  const open = { authorization: undefined }
  t.equal((await app.inject({ url: '/health', headers: open })).statusCode, 200)
  t.equal((await app.inject({ url: '/docs/json', headers: open })).statusCode, 200)
  t.ok([200, 302].includes((await app.inject({ url: '/docs', headers: open })).statusCode))
  const missing = await app.inject({ url: '/v1/nothing-here', headers: open })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'PARLEY_ERR_NOT_FOUND')
  t.equal((await app.inject({ url: '/v1/nothing-here' })).statusCode, 404)
})

t.test('a 401 comes before the body is read: bad JSON without a key is still 401', async (t) => {
  const app = await testApp(t)
  const res = await app.inject({
    method: 'POST',
    url: '/v1/messages',
    headers: { authorization: undefined, 'content-type': 'application/json' },
    payload: '{not json',
  })
  t.equal(res.statusCode, 401)
  t.match(res.json(), {
    statusCode: 401,
    code: 'PARLEY_ERR_UNAUTHORIZED',
    error: 'Unauthorized',
    message: 'Unauthorized: no API key (send Authorization: Bearer <key>)',
  })
})

t.test('the 401 message says what was wrong, short of telling unknown from revoked', async (t) => {
  const app = await testApp(t)
  const revoked = await app.store.apiKeys.create({ scopes: ['admin'] })
  await app.store.apiKeys.revoke(revoked.id)
  for (const [authorization, message] of [
    [undefined, /no API key/],
    ['Token abc', /must read 'Bearer <key>'/],
    ['Bearer pk_abc', /malformed API key/],
    [`Bearer ${generateKey().key}`, /unknown or revoked API key/],
    [`Bearer ${revoked.key}`, /unknown or revoked API key/],
  ] as const) {
    const res = await app.inject({ url: '/v1/networks', headers: { authorization } })
    t.match(res.json(), { code: 'PARLEY_ERR_UNAUTHORIZED', message }, String(authorization))
  }
})

t.test('the Bearer scheme is case-insensitive and the key is exact', async (t) => {
  const app = await testApp(t)
  const key = app.config.security.adminKey as string
  for (const header of [`bearer ${key}`, `BEARER ${key}`, `Bearer  ${key}`]) {
    t.equal(
      (await app.inject({ url: '/v1/networks', headers: { authorization: header } })).statusCode,
      200,
      header.slice(0, 8),
    )
  }
  for (const header of [`Bearer ${key}x`, `Bearer ${key} extra`, `Bearer ${key.toUpperCase()}`]) {
    t.equal(
      (await app.inject({ url: '/v1/networks', headers: { authorization: header } })).statusCode,
      401,
    )
  }
})

t.test('the request carries the verified key (id, name, scopes), never the key', async (t) => {
  const app = await testApp(t)
  const created = await app.store.apiKeys.create({ name: 'reader', scopes: ['presence:read'] })
  let seen: unknown
  app.addHook('onResponse', async (request) => {
    seen = request.apiKey
  })
  await app.inject({ url: '/v1/networks', headers: bearer(created.key) })
  t.same(seen, { id: created.id, name: 'reader', scopes: ['presence:read'] })
})

t.test('SSE: the presence stream needs presence:read too', async (t) => {
  const app = await testApp(t, { plugins: [fakePlugin(randomUUID())] })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `${base}/v1/presence/stream?addresses=${encodeURIComponent('fake:a@fake.test')}`
  const none = await fetch(url, { headers: { accept: 'text/event-stream' } })
  t.equal(none.status, 401)
  t.equal(((await none.json()) as { code: string }).code, 'PARLEY_ERR_UNAUTHORIZED')
  const sender = await app.store.apiKeys.create({ scopes: ['messages:send'] })
  const wrong = await fetch(url, { headers: { ...bearer(sender.key) } })
  t.equal(wrong.status, 403)
  await wrong.arrayBuffer()
  const reader = await app.store.apiKeys.create({ scopes: ['presence:read'] })
  const abort = new AbortController()
  const ok = await fetch(url, {
    headers: { accept: 'text/event-stream', ...bearer(reader.key) },
    signal: abort.signal,
  })
  t.equal(ok.status, 200)
  t.match(ok.headers.get('content-type'), /text\/event-stream/)
  abort.abort()
})
