import { type Element, xml } from '@xmpp/client'
import t from 'tap'
import type { Policy } from '../../core/policy/index.js'
import { xmppDomainPolicy } from '../../core/policy/presets.js'
import { testApp, waitFor } from '../helpers/app.js'
import { seen } from '../helpers/bots/watcher/index.js'
import { startProsody } from '../peers/prosody.js'
import { connectRawUser, type RawXmppUser } from '../peers/raw-xmpp.js'

/**
 * The federation policy against a real Prosody with three virtual hosts:
 * `parley.test` (the bot's account), `blocked.test` (a blocked domain) and
 * `unverified.test` (a PublicUnverified XMPP partner). A blocked domain's
 * message, contact request and presence never reach the bot or the REST
 * API; an unverified stranger is refused until the bot's identity has them
 * as a contact; the refusals are counted.
 */
const POLICY: Policy = (() => {
  // The bot's domain (and blocked.test, to reach the blocking rule) as a Federated partner...
  const policy = xmppDomainPolicy('parley.test', ['blocked.test'])
  policy.blockedDomains = ['blocked.test']
  // ...and an unverified partner.
  policy.xmppPartners.push({
    domain: 'unverified.test',
    additionalDomains: [],
    partnerType: 'PublicUnverified',
    tls: 'Optional',
    sasl: 'Optional',
    dialback: true,
  })
  return policy
})()

const isError = (condition: string, id: string) => (s: Element) =>
  s.is('message') &&
  s.attrs.type === 'error' &&
  s.attrs.id === id &&
  s.getChild('error')?.getChild(condition) !== undefined

const fromAddress = (address: string) => seen.filter((a) => a.from?.id === address)

t.test('blocked domain and unverified strangers, with a real Prosody', async (t) => {
  const prosody = await startProsody({ extraDomains: ['blocked.test', 'unverified.test'] })
  t.teardown(() => prosody.stop())
  await prosody.register('watch', 'watch-pass')
  await prosody.register('alice', 'alice-pass')
  await prosody.register('eve', 'eve-pass', 'blocked.test')
  await prosody.register('stranger', 'stranger-pass', 'unverified.test')
  const bot = prosody.jid('watch')
  const app = await testApp(t, {
    plugins: [
      {
        name: 'xmpp',
        options: {
          service: prosody.service,
          domain: prosody.domain,
          username: 'watch',
          password: 'watch-pass',
        },
      },
    ],
    bots: [
      {
        name: 'watcher',
        module: './test/helpers/bots/watcher/index.ts',
        identities: [`xmpp:${bot}`],
      },
    ],
    policy: POLICY,
  })
  await waitFor('xmpp online', () => app.networks.get('xmpp')?.status.state === 'online')
  const user = async (name: string, domain: string): Promise<RawXmppUser> => {
    const u = await connectRawUser({ service: prosody.service, domain }, name, `${name}-pass`)
    t.teardown(() => u.stop())
    return u
  }
  const alice = await user('alice', 'parley.test')
  const eve = await user('eve', 'blocked.test')
  const stranger = await user('stranger', 'unverified.test')
  const refusals = async () =>
    (await app.inject({ method: 'GET', url: '/v1/policy/refusals' })).json().refusals as Record<
      string,
      number
    >

  // The blocked domain: its message comes back `forbidden`, as RFC 6120 §8.3.3.4 puts it.
  const eveId = await eve.message(bot, 'let me in')
  const bounce = await eve.waitFor(isError('forbidden', eveId), { timeoutMs: 10_000 })
  t.match(bounce.getChild('error')?.attrs, { type: 'cancel' })
  // Its contact request and its presence are refused too (no answer goes back for those).
  await eve.send(xml('presence', { to: bot, type: 'subscribe', id: 'eve-sub' }))
  await eve.send(xml('presence', { to: bot }, xml('show', {}, 'chat')))
  await waitFor(
    'three refusals of blocked.test counted',
    async () => ((await refusals())['inbound blocked-domain'] ?? 0) >= 3,
  )

  // A verified partner's user gets through: the bot is there and answers.
  await alice.message(bot, 'hello from alice')
  await waitFor('alice at the bot', () =>
    fromAddress(`xmpp:${prosody.jid('alice')}`).some((a) => a.text === 'hello from alice'),
  )

  // An unverified stranger: refused until they are a contact of the bot's identity.
  const strangerAddress = 'xmpp:stranger@unverified.test'
  const firstId = await stranger.message(bot, 'who are you?')
  await stranger.waitFor(isError('forbidden', firstId), { timeoutMs: 10_000 })
  t.equal((await refusals())['inbound unverified-stranger'], 1)
  const watch = await app.inject({
    method: 'POST',
    url: '/v1/contacts',
    payload: { address: strangerAddress },
  })
  t.equal(watch.statusCode, 201, watch.body)
  const secondId = await stranger.message(bot, 'now we know each other')
  await waitFor('the contact at the bot', () =>
    fromAddress(strangerAddress).some((a) => a.text === 'now we know each other'),
  )
  t.notOk(stranger.received.some(isError('forbidden', secondId)), 'a contact is not refused')

  // Nothing from the blocked domain reached the bot, the store or the presence API.
  t.same(fromAddress('xmpp:eve@blocked.test'), [], 'the bot saw nothing from eve')
  t.notOk(
    fromAddress(strangerAddress).some((a) => a.text === 'who are you?'),
    "the bot never saw the stranger's first message",
  )
  const contacts = (await app.inject({ method: 'GET', url: '/v1/contacts' })).json()
  t.notOk(JSON.stringify(contacts).includes('blocked.test'), 'eve is no contact, not even pending')
  const presence = (
    await app.inject({ method: 'GET', url: '/v1/presence/xmpp:eve@blocked.test' })
  ).json()
  t.match(presence, { availability: 'unknown' })
  t.notOk(presence.lastKnown, 'no presence of eve was kept')
  const rows = await app.store.dataSource.query(
    "SELECT COUNT(*) AS n FROM messages WHERE from_address LIKE '%blocked.test%'",
  )
  t.equal(Number(rows[0].n), 0, 'no message from eve was stored')
  t.comment(`blocked deliveries seen: ${fromAddress('xmpp:eve@blocked.test').length}`)

  // A partner that requires TLS: this Prosody's client streams are plain, so its traffic is refused.
  t.equal(app.networks.get('xmpp')?.connection?.transportSecure?.(), false, 'the stream is plain')
  const strict = await app.inject({
    method: 'PUT',
    url: '/v1/policy/xmpp-partners/parley.test',
    payload: { partnerType: 'Federated', tls: 'Required', sasl: 'Required', dialback: false },
  })
  t.equal(strict.statusCode, 200, strict.body)
  const plainId = await alice.message(bot, 'over a plain stream')
  await alice.waitFor(isError('forbidden', plainId), { timeoutMs: 10_000 })
  t.equal((await refusals())['inbound xmpp-partner:parley.test.tls'], 1)
  t.notOk(
    fromAddress(`xmpp:${prosody.jid('alice')}`).some((a) => a.text === 'over a plain stream'),
    'refused for want of TLS, never at the bot',
  )
})
