import t from 'tap'
import { testApp, testConfig } from '../helpers/app.js'
import { freePort } from '../peers/prosody.js'

/**
 * The federation policy as configured, asked over REST: seeded from
 * fastify.config.ts, checked at start, explained by POST /v1/policy/explain.
 */
async function aol() {
  return {
    name: 'aol',
    options: {
      domain: 'parley.test',
      identities: ['bot'],
      listen: { address: '127.0.0.1', port: await freePort() },
      proxy: { host: '127.0.0.1', port: 5999, transport: 'tcp' },
      allowRetired: true,
    },
  }
}

const OPEN = {
  edge: { allowFederatedUsers: true, allowPublicProviders: true },
  publicProviders: [
    {
      name: 'AOL',
      network: 'aol',
      proxyFqdn: 'sip.oscar.aol.com',
      enabled: true,
      verificationLevel: 'AlwaysVerifiable' as const,
    },
  ],
  blockedDomains: ['blocked.example'],
  externalAccessPolicies: [
    {
      name: 'global',
      federation: false,
      publicCloud: true,
      publicCloudAudioVideo: false,
      xmpp: false,
    },
  ],
}

const explain = (app: Awaited<ReturnType<typeof testApp>>, payload: object) =>
  app.inject({ method: 'POST', url: '/v1/policy/explain', payload })

t.test("without a policy, Lync's closed defaults: nothing crosses the edge", async (t) => {
  const app = await testApp(t, { plugins: [await aol()], policy: undefined })
  const res = await explain(app, { from: 'aol:alice@aol.com', to: 'aol:bot@parley.test' })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { allow: false, rule: 'edge.allowFederatedUsers' })
  t.match(res.json().request, { direction: 'inbound', networkKind: 'public-provider' })
})

t.test('a configured policy allows the provider and names the blocked domain', async (t) => {
  const app = await testApp(t, { plugins: [await aol()], policy: OPEN })
  const inbound = (
    await explain(app, { from: 'aol:alice@aol.com', to: 'aol:bot@parley.test' })
  ).json()
  t.equal(inbound.allow, true, inbound.reason)
  t.match(inbound.rule, /AOL/)
  const outbound = (
    await explain(app, {
      from: 'aol:bot@parley.test',
      to: 'aol:alice@aol.com',
      kind: 'subscription',
    })
  ).json()
  t.match(outbound, { allow: true, request: { direction: 'outbound', kind: 'subscription' } })
  const blocked = (
    await explain(app, { from: 'aol:eve@blocked.example', to: 'aol:bot@parley.test' })
  ).json()
  t.match(blocked, { allow: false, rule: 'blocked-domain' })
  t.match(blocked.reason, /blocked\.example/)
  // Calls through a public provider need publicCloudAudioVideo, which the global policy lacks.
  const call = (
    await explain(app, { from: 'aol:alice@aol.com', to: 'aol:bot@parley.test', kind: 'call' })
  ).json()
  t.equal(call.allow, false)
  t.match(call.rule, /publicCloudAudioVideo/)
  const inForce = (await app.inject({ method: 'GET', url: '/v1/policy' })).json()
  t.same(inForce.policy.blockedDomains, ['blocked.example'])
  t.match(inForce, { version: 1, author: 'config', summary: /seeded from fastify\.config\.ts/ })
})

t.test('explain refuses what it cannot judge, with codes', async (t) => {
  const app = await testApp(t, { plugins: [await aol()], policy: OPEN })
  const strangers = await explain(app, { from: 'aol:alice@aol.com', to: 'aol:carol@aol.com' })
  t.equal(strangers.statusCode, 422)
  t.equal(strangers.json().code, 'PARLEY_ERR_NO_IDENTITY')
  const unknown = await explain(app, { from: 'irc:x@y', to: 'aol:bot@parley.test' })
  t.equal(unknown.json().code, 'PARLEY_ERR_NETWORK_UNKNOWN')
  const missing = await explain(app, { from: 'aol:alice@aol.com' })
  t.equal(missing.json().code, 'PARLEY_ERR_VALIDATION')
})

t.test('a policy that breaks its own rules stops the start, naming the field', async (t) => {
  t.throws(
    () =>
      testConfig(t, {
        policy: { ...OPEN, allowedDomains: ['blocked.example'] },
      }),
    { code: 'PARLEY_ERR_CONFIG', message: /policy\..*blocked\.example/ },
  )
  t.throws(
    () =>
      testConfig(t, {
        policy: {
          ...OPEN,
          xmppPartners: [
            {
              domain: 'partner.example',
              additionalDomains: [],
              partnerType: 'Federated',
              tls: false,
              sasl: true,
              dialback: false,
            },
          ],
        },
      }),
    { code: 'PARLEY_ERR_CONFIG', message: /policy\.xmppPartners\[0\]/ },
  )
})
