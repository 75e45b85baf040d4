import t from 'tap'
import { buildApp } from '../../core/app.js'
import type { ParleyConfig } from '../../core/config/schema.js'
import { defaultPolicy } from '../../core/policy/index.js'
import { adminHeaders, ROOT, testApp, testConfig, waitFor } from '../helpers/app.js'

/**
 * The federation policy edited over REST: each edit is validated whole and
 * stored as the next version; conflicts are 409 with a stable code; the
 * stored policy survives a restart and wins over the config seed; every
 * host process sharing the database and Redis follows an edit.
 */
type App = Awaited<ReturnType<typeof testApp>>

const call = async (
  app: App,
  method: 'GET' | 'PUT' | 'PATCH' | 'POST' | 'DELETE',
  url: string,
  payload?: object,
) => {
  const res = await app.inject({ method, url, ...(payload && { payload }) })
  return { status: res.statusCode, body: res.json() }
}

const CLOSED = defaultPolicy()

t.test('GET /v1/policy: the seed is version 1, authored by config', async (t) => {
  const app = await testApp(t, { policy: undefined })
  const { status, body } = await call(app, 'GET', '/v1/policy')
  t.equal(status, 200)
  t.match(body, { version: 1, author: 'config', summary: /closed defaults/ })
  t.same(body.policy, CLOSED)
})

t.test('edits: each one is the next version, and the history says what changed', async (t) => {
  const app = await testApp(t, { policy: undefined })
  const edge = await call(app, 'PATCH', '/v1/policy/edge', { allowFederatedUsers: true })
  t.equal(edge.status, 200)
  t.equal(edge.body.version, 2)
  // Only the named setting changed (defaults are not filled into a partial edit).
  t.same(edge.body.policy.edge, { ...CLOSED.edge, allowFederatedUsers: true })

  const blocked = await call(app, 'PUT', '/v1/policy/blocked-domains/Evil.Example')
  t.equal(blocked.body.version, 3)
  t.same(blocked.body.policy.blockedDomains, ['evil.example'])
  // Idempotent: the same domain again is no duplicate.
  const again = await call(app, 'PUT', '/v1/policy/blocked-domains/evil.example')
  t.same(again.body.policy.blockedDomains, ['evil.example'])

  const access = await call(app, 'PUT', '/v1/policy/access/xmpp:bot@parley.test', { xmpp: true })
  t.equal(access.status, 200)
  t.match(
    access.body.policy.externalAccessPolicies.find(
      (p: { name: string }) => p.name === 'xmpp:bot@parley.test',
    ),
    { xmpp: true, federation: false, publicCloud: false },
  )

  const partner = await call(app, 'PUT', '/v1/policy/xmpp-partners/partner.example', {
    partnerType: 'PublicVerified',
    tls: 'Required',
    sasl: 'Required',
    dialback: false,
  })
  t.equal(partner.status, 200)
  t.match(partner.body.policy.xmppPartners, [{ domain: 'partner.example', additionalDomains: [] }])

  const history = await call(app, 'GET', '/v1/policy/history?limit=3')
  t.equal(history.status, 200)
  t.same(
    history.body.versions.map((v: { version: number }) => v.version),
    [partner.body.version, partner.body.version - 1, partner.body.version - 2],
  )
  t.match(history.body.versions[0], { summary: /xmppPartners ~ partner\.example/ })
})

t.test('conflicts are 409 PARLEY_ERR_POLICY_CONFLICT and change nothing', async (t) => {
  const app = await testApp(t, { policy: undefined })
  await call(app, 'PUT', '/v1/policy/blocked-domains/evil.example')
  const before = (await call(app, 'GET', '/v1/policy')).body.version

  const both = await call(app, 'PUT', '/v1/policy/allowed-domains/evil.example')
  t.equal(both.status, 409)
  t.equal(both.body.code, 'PARLEY_ERR_POLICY_CONFLICT')
  t.match(both.body.message, /domain\.conflict.*evil\.example/)

  const provider = {
    name: 'WindowsLive',
    network: 'windows-live',
    proxyFqdn: 'federation.messenger.msn.com',
    enabled: true,
  }
  const created = await call(app, 'POST', '/v1/policy/providers', provider)
  t.equal(created.status, 201)
  t.match(created.body.policy.publicProviders, [
    { ...provider, verificationLevel: 'AlwaysVerifiable' },
  ])
  const sameName = await call(app, 'POST', '/v1/policy/providers', {
    ...provider,
    network: 'other',
    proxyFqdn: 'other.example',
  })
  t.equal(sameName.status, 409)
  t.match(sameName.body.message, /provider\.duplicate-name/)
  const sameFqdn = await call(app, 'POST', '/v1/policy/providers', {
    ...provider,
    name: 'Other',
    network: 'other',
  })
  t.equal(sameFqdn.status, 409)
  t.match(sameFqdn.body.message, /provider\.duplicate-proxy-fqdn/)

  // Lync: Set-CsPublicProvider has no -ProxyFqdn; remove and create again.
  const moved = await call(app, 'PATCH', '/v1/policy/providers/WindowsLive', {
    proxyFqdn: 'elsewhere.example',
  })
  t.equal(moved.status, 409)
  t.match(moved.body.message, /provider\.proxy-fqdn-immutable.*remove the provider/)
  const disabled = await call(app, 'PATCH', '/v1/policy/providers/WindowsLive', {
    enabled: false,
  })
  t.equal(disabled.status, 200)
  t.match(disabled.body.policy.publicProviders, [{ name: 'WindowsLive', enabled: false }])

  const matrix = await call(app, 'PUT', '/v1/policy/xmpp-partners/bad.example', {
    tls: 'NotSupported',
    sasl: 'Required',
    dialback: false,
  })
  t.equal(matrix.status, 400, 'SASL without TLS is invalid, not a conflict')
  t.equal(matrix.body.code, 'PARLEY_ERR_VALIDATION')
  t.match(matrix.body.message, /xmpp\.sasl-requires-tls/)

  const stale = await call(app, 'PUT', '/v1/policy', { policy: CLOSED, expectVersion: before })
  t.equal(stale.status, 409, 'a whole-policy write against an old version')
  t.match(stale.body.message, /not \d+: read it again/)

  const after = (await call(app, 'GET', '/v1/policy')).body
  t.equal(after.version, disabled.body.version, 'refused edits stored nothing')
})

t.test('removals, and 404 for what is not there', async (t) => {
  const app = await testApp(t, { policy: undefined })
  for (const url of [
    '/v1/policy/providers/Nope',
    '/v1/policy/blocked-domains/nowhere.example',
    '/v1/policy/allowed-domains/nowhere.example',
    '/v1/policy/xmpp-partners/nowhere.example',
    '/v1/policy/access/xmpp:nobody@parley.test',
  ]) {
    const res = await call(app, 'DELETE', url)
    t.equal(res.status, 404, url)
    t.equal(res.body.code, 'PARLEY_ERR_NOT_FOUND', url)
  }
  await call(app, 'PUT', '/v1/policy/allowed-domains/partner.example')
  const removed = await call(app, 'DELETE', '/v1/policy/allowed-domains/partner.example')
  t.same(removed.body.policy.allowedDomains, [])
  await call(app, 'PUT', '/v1/policy/access/global', { federation: true })
  const reset = await call(app, 'DELETE', '/v1/policy/access/global')
  t.same(reset.body.policy.externalAccessPolicies, CLOSED.externalAccessPolicies)
})

t.test('bad bodies and parameters are 400 PARLEY_ERR_VALIDATION', async (t) => {
  const app = await testApp(t, { policy: undefined })
  for (const [method, url, payload] of [
    ['PATCH', '/v1/policy/edge', {}],
    ['PATCH', '/v1/policy/edge', { allowFederatedUsers: 'yes' }],
    ['PATCH', '/v1/policy/edge', { unknown: true }],
    ['PUT', '/v1/policy/blocked-domains/not_a domain', undefined],
    ['POST', '/v1/policy/providers', { name: 'X' }],
    ['PUT', '/v1/policy/access/global', { everything: true }],
    ['PUT', '/v1/policy', { policy: { edge: 1 } }],
  ] as const) {
    const res = await call(app, method, url, payload)
    t.equal(res.status, 400, `${method} ${url} ${JSON.stringify(payload)}`)
    t.equal(res.body.code, 'PARLEY_ERR_VALIDATION')
  }
})

t.test('concurrent edits: none lost, versions in sequence', async (t) => {
  const app = await testApp(t, { policy: undefined })
  const domains = Array.from({ length: 8 }, (_, i) => `d${i}.example`)
  const results = await Promise.all(
    domains.map((d) => call(app, 'PUT', `/v1/policy/blocked-domains/${d}`)),
  )
  t.same(
    results.map((r) => r.status),
    domains.map(() => 200),
  )
  const { body } = await call(app, 'GET', '/v1/policy')
  t.same([...body.policy.blockedDomains].sort(), domains)
  t.equal(body.version, 1 + domains.length)
})

t.test('the stored policy survives a restart and wins over the config seed', async (t) => {
  const config: ParleyConfig = testConfig(t, { policy: undefined })
  const first = await buildApp(config, { rootDir: ROOT })
  const inject = (app: typeof first, method: 'GET' | 'PUT', url: string) =>
    app.inject({ method, url, headers: adminHeaders(config) })
  t.equal((await inject(first, 'PUT', '/v1/policy/blocked-domains/evil.example')).statusCode, 200)
  await first.close()

  // The config now carries a different policy: it only seeds an empty database.
  const second = await buildApp({ ...config, policy: defaultPolicy() }, { rootDir: ROOT })
  t.teardown(() => second.close())
  const body = (await inject(second, 'GET', '/v1/policy')).json()
  t.equal(body.version, 2)
  t.same(body.policy.blockedDomains, ['evil.example'])
})

t.test('every process sharing Redis and the database follows an edit', async (t) => {
  const config: ParleyConfig = testConfig(t, { policy: undefined })
  const a = await buildApp(config, { rootDir: ROOT })
  t.teardown(() => a.close())
  const b = await buildApp(config, { rootDir: ROOT })
  t.teardown(() => b.close())
  const res = await a.inject({
    method: 'PUT',
    url: '/v1/policy/blocked-domains/evil.example',
    headers: adminHeaders(config),
  })
  t.equal(res.statusCode, 200)
  await waitFor('process b to load version 2', () => b.policy.state.version === 2, 5000)
  t.same(b.policy.state.policy.blockedDomains, ['evil.example'])
  t.equal(b.gate instanceof Object, true)
})
