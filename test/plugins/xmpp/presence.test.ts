/**
 * Subscriptions, presence and the roster through a real Prosody. Each test
 * registers its own pair of accounts, so rosters never leak between tests.
 */
import { type Element, xml } from '@xmpp/client'
import t, { type Test } from 'tap'
import type { InboundPresence, InboundSubscription } from '../../../core/contract/index.js'
import type { XmppConnection } from '../../../plugins/xmpp/connection.js'
import plugin from '../../../plugins/xmpp/index.js'
import { createPluginContext } from '../../helpers/plugin-context.js'
import { type ProsodyPeer, startProsody } from '../../peers/prosody.js'
import { connectRawUser, type RawXmppUser } from '../../peers/raw-xmpp.js'

let peer: ProsodyPeer
t.before(async () => {
  peer = await startProsody()
})
t.teardown(() => peer?.stop())

let n = 0

async function world(t: Test) {
  const id = ++n
  const botName = `bot${id}`
  const userName = `alice${id}`
  await Promise.all([peer.register(botName, 'pw'), peer.register(userName, 'pw')])
  const ctx = createPluginContext()
  const conn = plugin.create(ctx, {
    service: peer.service,
    domain: peer.domain,
    username: botName,
    password: 'pw',
  }) as XmppConnection
  t.teardown(() => conn.stop())
  await conn.start()
  const user = await connectRawUser(peer, userName, 'pw', { resource: 'desk' })
  t.teardown(() => user.stop())
  const bot = `xmpp:${peer.jid(botName)}`
  const alice = `xmpp:${peer.jid(userName)}`
  return { ctx, conn, user, bot, alice, botJid: peer.jid(botName), aliceJid: peer.jid(userName) }
}

type World = Awaited<ReturnType<typeof world>>

const presence = (attrs: Record<string, string>, ...children: Element[]) =>
  xml('presence', attrs, ...children)

/** alice asks, the bot approves: alice now sees the bot's presence. */
async function aliceWatchesBot(w: World) {
  await w.user.send(presence({ to: w.botJid, type: 'subscribe' }))
  await w.ctx.waitForEvent((e) => e.type === 'subscription' && e.action === 'request')
  await w.conn.approve({ from: w.bot, to: w.alice })
  await w.user.waitFor((s) => s.name === 'presence' && s.attrs.type === 'subscribed')
}

/** The bot asks, alice approves: the bot now gets alice's presence. */
async function botWatchesAlice(w: World) {
  await w.conn.subscribe({ from: w.bot, to: w.alice })
  await w.user.waitFor((s) => s.name === 'presence' && s.attrs.type === 'subscribe')
  await w.user.send(presence({ to: w.botJid, type: 'subscribed' }))
  await w.ctx.waitForEvent((e) => e.type === 'subscription' && e.action === 'approved')
}

t.test(
  'a subscription request becomes a request event; approving it updates roster and peer',
  async (t) => {
    const w = await world(t)
    await w.user.send(presence({ to: w.botJid, type: 'subscribe', id: 'sub-1' }))
    const request = await w.ctx.waitForEvent<InboundSubscription>((e) => e.type === 'subscription')
    t.match(request, {
      type: 'subscription',
      action: 'request',
      from: w.alice,
      to: w.bot,
      remoteId: 'sub-1',
    })
    t.notOk(
      w.user.received.some((s) => s.attrs.type === 'subscribed'),
      'never approved automatically',
    )
    await w.conn.approve({ from: w.bot, to: w.alice })
    await w.user.waitFor((s) => s.name === 'presence' && s.attrs.type === 'subscribed')
    // The approval lets the server send the bot's current presence to alice.
    await w.user.waitFor(
      (s) => s.name === 'presence' && !s.attrs.type && s.attrs.from?.startsWith(w.botJid) === true,
    )
    const contact = await w.ctx.until(() => w.conn.roster().find((c) => c.jid === w.aliceJid))
    t.equal(contact.subscription, 'from', 'roster push: alice is subscribed to us')
    t.match(w.ctx.stateMap.get('roster'), new RegExp(w.aliceJid), 'roster kept in plugin state')
  },
)

t.test('refusing a request sends unsubscribed', async (t) => {
  const w = await world(t)
  await w.user.send(presence({ to: w.botJid, type: 'subscribe' }))
  await w.ctx.waitForEvent((e) => e.type === 'subscription' && e.action === 'request')
  await w.conn.refuse({ from: w.bot, to: w.alice })
  const answer = await w.user.waitFor(
    (s) => s.name === 'presence' && s.attrs.type === 'unsubscribed',
  )
  t.match(answer.attrs.from, new RegExp(`^${w.botJid}`))
})

t.test('approved, removed and refused arrive as subscription events', async (t) => {
  const w = await world(t)
  await botWatchesAlice(w)
  const approved = w.ctx.events.find((e) => e.type === 'subscription' && e.action === 'approved')
  t.match(approved, { from: w.alice, to: w.bot })
  await t.resolveMatch(
    w.ctx.until(() => w.conn.roster().find((c) => c.jid === w.aliceJid && c.subscription === 'to')),
    { jid: w.aliceJid },
    'roster push: we are subscribed to alice',
  )
  // alice takes her approval back: from our side that is "refused" (unsubscribed)
  await w.user.send(presence({ to: w.botJid, type: 'unsubscribed' }))
  await w.ctx.waitForEvent((e) => e.type === 'subscription' && e.action === 'refused')
  // alice subscribed to us, then cancels: "removed" (unsubscribe)
  await aliceWatchesBot(w)
  await w.user.send(presence({ to: w.botJid, type: 'unsubscribe' }))
  const removed = await w.ctx.waitForEvent<InboundSubscription>(
    (e) => e.type === 'subscription' && e.action === 'removed',
  )
  t.match(removed, { from: w.alice, to: w.bot })
})

t.test('presence changes arrive with mapped availability, status and raw value', async (t) => {
  const w = await world(t)
  await botWatchesAlice(w)
  // (Prosody may first send a bare `unavailable`: no resource known yet.)
  const first = await w.ctx.waitForEvent<InboundPresence>(
    (e) => e.type === 'presence' && e.availability !== 'offline',
  )
  t.match(first, { from: w.alice, to: w.bot, availability: 'available', raw: 'available' })
  const cases: Array<[Element, Partial<InboundPresence>]> = [
    [
      presence({}, xml('show', {}, 'away'), xml('status', {}, 'lunch')),
      { availability: 'away', raw: 'away', status: 'lunch' },
    ],
    [presence({}, xml('show', {}, 'xa')), { availability: 'away', raw: 'xa' }],
    [presence({}, xml('show', {}, 'dnd')), { availability: 'dnd', raw: 'dnd' }],
    [presence({}, xml('show', {}, 'chat')), { availability: 'available', raw: 'chat' }],
    [presence({ type: 'unavailable' }), { availability: 'offline', raw: 'unavailable' }],
  ]
  for (const [stanza, expected] of cases) {
    const mark = w.ctx.mark()
    await w.user.send(stanza)
    const event = await w.ctx.waitForEvent<InboundPresence>((e) => e.type === 'presence', {
      since: mark.events,
    })
    t.match(
      event,
      { from: w.alice, ...expected },
      `${stanza.toString()} -> ${expected.availability}`,
    )
    t.ok(event.remoteId, 'has a remote id')
  }
})

t.test('a contact with two resources is offline only when both are', async (t) => {
  const w = await world(t)
  await botWatchesAlice(w)
  await w.ctx.waitForEvent((e) => e.type === 'presence' && e.availability === 'available')
  const phone: RawXmppUser = await connectRawUser(peer, w.aliceJid.split('@')[0] as string, 'pw', {
    resource: 'phone',
    presence: false,
  })
  t.teardown(() => phone.stop())
  let mark = w.ctx.mark()
  await phone.send(presence({}, xml('show', {}, 'away'), xml('priority', {}, '-1')))
  const both = await w.ctx.waitForEvent<InboundPresence>((e) => e.type === 'presence', {
    since: mark.events,
  })
  t.equal(both.availability, 'available', 'the desk (priority 0, available) still wins')
  mark = w.ctx.mark()
  await w.user.send(presence({ type: 'unavailable' }))
  const phoneOnly = await w.ctx.waitForEvent<InboundPresence>((e) => e.type === 'presence', {
    since: mark.events,
  })
  t.equal(phoneOnly.availability, 'away', 'desk gone, phone away: away, not offline')
  mark = w.ctx.mark()
  await phone.send(presence({ type: 'unavailable' }))
  const gone = await w.ctx.waitForEvent<InboundPresence>((e) => e.type === 'presence', {
    since: mark.events,
  })
  t.equal(gone.availability, 'offline')
})

t.test(
  'setPresence is announced, kept for the next session, and stop says unavailable',
  async (t) => {
    const w = await world(t)
    await aliceWatchesBot(w)
    let since = w.user.received.length
    await w.conn.setPresence({ from: w.bot, availability: 'away', status: 'lunch' })
    const away = await w.user.waitFor(
      (s) => s.name === 'presence' && s.getChildText('show') === 'away',
      { since },
    )
    t.equal(away.getChildText('status'), 'lunch')
    since = w.user.received.length
    await w.conn.setPresence({ from: w.bot, availability: 'busy' })
    await w.user.waitFor((s) => s.name === 'presence' && s.getChildText('show') === 'dnd', {
      since,
    })
    await t.rejects(w.conn.setPresence({ from: w.bot, availability: 'unknown' }), {
      code: 'PARLEY_ERR_VALIDATION',
      retryable: false,
    })
    since = w.user.received.length
    await w.conn.stop()
    await w.user.waitFor((s) => s.name === 'presence' && s.attrs.type === 'unavailable', { since })
    since = w.user.received.length
    await w.conn.start()
    const again = await w.user.waitFor((s) => s.name === 'presence' && !s.attrs.type, { since })
    t.equal(again.getChildText('show'), 'dnd', 'the new session announces the presence last set')
  },
)

t.test('probe asks the server for a contact presence', async (t) => {
  const w = await world(t)
  await botWatchesAlice(w)
  await w.ctx.waitForEvent((e) => e.type === 'presence' && e.availability === 'available')
  const mark = w.ctx.mark()
  await w.conn.probe({ from: w.bot, to: w.alice })
  const answer = await w.ctx.waitForEvent<InboundPresence>((e) => e.type === 'presence', {
    since: mark.events,
  })
  t.match(answer, { from: w.alice, availability: 'available' })
})

t.test('pending subscription requests are delivered at login', async (t) => {
  const w = await world(t)
  await w.conn.stop()
  await w.user.send(presence({ to: w.botJid, type: 'subscribe' }))
  await new Promise((resolve) => setTimeout(resolve, 100))
  const mark = w.ctx.mark()
  await w.conn.start()
  const request = await w.ctx.waitForEvent<InboundSubscription>((e) => e.type === 'subscription', {
    since: mark.events,
  })
  t.match(request, { action: 'request', from: w.alice })
})
