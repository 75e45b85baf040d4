import t from 'tap'
import type { Policy } from '../../core/policy/index.js'
import { testApp, waitFor } from '../helpers/app.js'
import { freePort, startKamailio } from '../peers/kamailio.js'
import { connectSipUser } from '../peers/sip-user.js'

/**
 * The federation policy over the SIP edge, with a real Kamailio playing
 * Windows Live's federation proxy: an AlwaysUnverifiable provider's stranger
 * is refused (403) until they are a contact; an identity whose own access
 * policy lacks `publicCloud` can neither be reached from nor send to the
 * provider; blocking the provider's domain at run time refuses its messages
 * and ends its subscription requests.
 *
 * Loopback addresses of its own (other SIP tests use 127.0.0.2-13 and .30).
 */
const KAMAILIO = '127.0.0.40'
const PARLEY = '127.0.0.41'
const USER = '127.0.0.42'
const DOMAIN = 'live.test'
const BOT = 'sip:bot@parley.test'
const NOPIC = 'sip:nopic@parley.test'

const POLICY: Policy = {
  edge: {
    allowFederatedUsers: true,
    allowPublicProviders: true,
    partnerDiscovery: false,
    outgoingVerifiable: true,
  },
  publicProviders: [
    {
      name: 'WindowsLive',
      network: 'windows-live',
      proxyFqdn: 'federation.messenger.msn.com',
      enabled: true,
      verificationLevel: 'AlwaysUnverifiable',
    },
  ],
  allowedDomains: [],
  blockedDomains: [],
  externalAccessPolicies: [
    {
      name: 'global',
      federation: false,
      publicCloud: true,
      publicCloudAudioVideo: false,
      xmpp: false,
    },
    {
      name: `windows-live:${NOPIC}`,
      federation: false,
      publicCloud: false,
      publicCloudAudioVideo: false,
      xmpp: false,
    },
  ],
  xmppPartners: [],
}

t.test('unverified provider, publicCloud per identity, blocking at run time', async (t) => {
  const parleyPort = await freePort(PARLEY)
  const kamailio = await startKamailio({
    address: KAMAILIO,
    parleyTarget: { address: PARLEY, port: parleyPort, transport: 'tcp' },
  })
  t.teardown(() => kamailio.stop())
  const app = await testApp(t, {
    plugins: [
      {
        name: 'windows-live',
        options: {
          domain: 'parley.test',
          identities: ['bot', 'nopic'],
          listen: { address: PARLEY, port: parleyPort },
          proxy: { host: KAMAILIO, port: kamailio.port('tcp'), transport: 'tcp' },
          domains: [DOMAIN],
        },
      },
    ],
    bots: [{ name: 'echo', identities: [`windows-live:${BOT}`] }],
    policy: POLICY,
  })
  await waitFor(
    'windows-live online',
    () => app.networks.get('windows-live')?.status.state === 'online',
  )
  const alice = await connectSipUser({
    kamailio,
    username: 'alice',
    domain: DOMAIN,
    address: USER,
    transport: 'tcp',
  })
  t.teardown(() => alice.stop())
  const aliceAddress = `windows-live:sip:alice@${DOMAIN}`
  const refusals = async () =>
    (await app.inject({ method: 'GET', url: '/v1/policy/refusals' })).json().refusals as Record<
      string,
      number
    >
  const echoed = (text: string) =>
    alice.waitFor((rq) => rq.method === 'MESSAGE' && rq.body === `echo: ${text}`, 10_000)

  // An unverified stranger: refused, and the bot never sees it.
  t.equal(await alice.message(BOT, 'hello stranger'), 403, 'unverified stranger refused')
  t.equal((await refusals())['inbound unverified-stranger'], 1)

  // Once the bot's identity watches alice, she is a contact: delivered, and echoed.
  const watch = await app.inject({
    method: 'POST',
    url: '/v1/contacts',
    payload: { address: aliceAddress, identity: `windows-live:${BOT}` },
  })
  t.equal(watch.statusCode, 201, watch.body)
  t.equal(await alice.message(BOT, 'hello contact'), 200, 'a contact is accepted')
  await echoed('hello contact')
  t.notOk(
    alice.received.some((rq) => rq.method === 'MESSAGE' && rq.body === 'echo: hello stranger'),
    'the refused message was never echoed',
  )

  // An identity without publicCloud: unreachable from the provider, and cannot send to it.
  t.equal(await alice.message(NOPIC, 'anyone there?'), 403, 'inbound to nopic refused')
  const send = await app.inject({
    method: 'POST',
    url: '/v1/messages',
    payload: { from: `windows-live:${NOPIC}`, to: aliceAddress, text: 'from nopic' },
  })
  t.equal(send.statusCode, 403)
  t.equal(send.json().code, 'PARLEY_ERR_POLICY_DENIED')
  t.match(send.json().message, /policy:windows-live:sip:nopic@parley\.test\.publicCloud/)
  const counted = await refusals()
  t.equal(counted[`inbound policy:windows-live:${NOPIC}.publicCloud`], 1)
  t.equal(counted[`outbound policy:windows-live:${NOPIC}.publicCloud`], 1)

  // Blocking the provider's domain takes effect at once: messages 403, subscriptions ended.
  const block = await app.inject({ method: 'PUT', url: `/v1/policy/blocked-domains/${DOMAIN}` })
  t.equal(block.statusCode, 200)
  t.equal(await alice.message(BOT, 'still friends?'), 403, 'blocked domain refused')
  const sub = await alice.subscribe(BOT)
  await sub.waitForNotify((n) => String(n.header('subscription-state')).startsWith('terminated'))
  t.match(String(sub.notifies.at(-1)?.header('subscription-state')), /reason=rejected/)
  t.ok(((await refusals())['inbound blocked-domain'] ?? 0) >= 2, 'message and subscription counted')
  t.notOk(
    alice.received.some((rq) => rq.method === 'MESSAGE' && rq.body === 'echo: still friends?'),
    'the blocked message never reached the bot',
  )
})
