import { type Element, xml } from '@xmpp/client'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { buildApp } from '../../core/app.js'
import type { Presence } from '../../core/contract/index.js'
import {
  adminHeaders,
  REDIS_URL,
  testApp,
  testConfig,
  waitFor,
  withAdminKey,
} from '../helpers/app.js'
import { seen } from '../helpers/bots/watcher/index.js'
import { type ProsodyPeer, startProsody } from '../peers/prosody.js'
import { connectRawUser, type RawXmppUser } from '../peers/raw-xmpp.js'

/**
 * Presence and federated contacts end to end: real Prosody, the xmpp
 * plugin, Redis (live presence), SQLite (contacts, last known presence) and
 * a bot that records what it is told.
 */
type App = Awaited<ReturnType<typeof testApp>>

function xmppPlugin(prosody: ProsodyPeer) {
  return {
    name: 'xmpp',
    options: {
      service: prosody.service,
      domain: prosody.domain,
      username: 'watch',
      password: 'watch-pass',
      reconnectMinMs: 100,
      reconnectMaxMs: 500,
    },
  }
}

async function startPeer(t: Test) {
  const prosody = await startProsody({
    users: [
      { username: 'watch', password: 'watch-pass' },
      { username: 'alice', password: 'alice-pass' },
      { username: 'stranger', password: 'stranger-pass' },
    ],
  })
  t.teardown(() => prosody.stop())
  return prosody
}

function appConfig(prosody: ProsodyPeer, decide = 'none') {
  return {
    plugins: [xmppPlugin(prosody)],
    bots: [
      {
        name: 'watcher',
        module: './test/helpers/bots/watcher/index.ts',
        identities: [`xmpp:${prosody.jid('watch')}`],
        options: { decide },
      },
    ],
    presence: { dbFlushMs: 50 },
    server: { logLevel: (process.env.PARLEY_TEST_LOG ?? 'silent') as 'silent' },
  }
}

async function user(t: Test, prosody: ProsodyPeer, name: string): Promise<RawXmppUser> {
  const u = await connectRawUser(prosody, name, `${name}-pass`, { reconnect: true })
  // A new session after a server restart announces itself again, as clients do.
  u.client.on('online', () => void u.send(xml('presence')).catch(() => {}))
  t.teardown(() => u.stop())
  return u
}

const isPresence = (type: string, from: string) => (s: Element) =>
  s.is('presence') && s.attrs.type === type && String(s.attrs.from ?? '').startsWith(from)

async function presenceOf(app: App, address: string): Promise<Presence> {
  const res = await app.inject({ method: 'GET', url: `/v1/presence/${address}` })
  if (res.statusCode !== 200) throw new Error(`GET presence: ${res.statusCode} ${res.body}`)
  return res.json()
}

/** The bot's identity watches `u`, who accepts: the contact ends up `both`. */
async function watchAccepted(app: App, prosody: ProsodyPeer, u: RawXmppUser) {
  const since = u.received.length
  const res = await app.inject({
    method: 'POST',
    url: '/v1/contacts',
    payload: { address: `xmpp:${u.bare}` },
  })
  if (res.statusCode !== 201) throw new Error(`watch: ${res.statusCode} ${res.body}`)
  const contact = res.json()
  await u.waitFor(isPresence('subscribe', prosody.jid('watch')), { since })
  await u.send(xml('presence', { to: prosody.jid('watch'), type: 'subscribed' }))
  await waitFor('the contact to be both', async () => {
    const got = await app.inject({ method: 'GET', url: `/v1/contacts/${contact.id}` })
    return got.json().subscription === 'both'
  })
  return contact as { id: string; subscription: string }
}

/** Prosody, the host, and alice watched by the bot's identity and seen available. */
async function watchedAlice(t: Test) {
  const prosody = await startPeer(t)
  const app = await testApp(t, appConfig(prosody))
  const alice = await user(t, prosody, 'alice')
  const address = `xmpp:${alice.bare}`
  await watchAccepted(app, prosody, alice)
  await waitFor(
    'alice available',
    async () => (await presenceOf(app, address)).availability === 'available',
  )
  return { prosody, app, alice, address }
}

t.test('watch: show/status changes reach REST within a second and the bot as events', async (t) => {
  const prosody = await startPeer(t)
  const app = await testApp(t, appConfig(prosody))
  const alice = await user(t, prosody, 'alice')
  const address = `xmpp:${alice.bare}`
  const res = await app.inject({ method: 'POST', url: '/v1/contacts', payload: { address } })
  t.equal(res.statusCode, 201)
  t.equal(res.json().subscription, 'pending-out', 'a watch starts as our pending request')
  t.equal((await presenceOf(app, address)).availability, 'unknown', 'nothing known before approval')
  await alice.waitFor(isPresence('subscribe', prosody.jid('watch')))
  await alice.send(xml('presence', { to: prosody.jid('watch'), type: 'subscribed' }))
  await waitFor(
    'alice available',
    async () => (await presenceOf(app, address)).availability === 'available',
  )

  const seenBefore = seen.length
  const changedAt = Date.now()
  await alice.send(xml('presence', {}, xml('show', {}, 'away'), xml('status', {}, 'at lunch')))
  const away = await waitFor(
    'away',
    async () => {
      const p = await presenceOf(app, address)
      return p.availability === 'away' ? p : undefined
    },
    1000,
  )
  t.ok(Date.now() - changedAt < 1000, `reflected in ${Date.now() - changedAt} ms`)
  t.match(away, {
    availability: 'away',
    status: 'at lunch',
    raw: 'away',
    lync: 15500,
    source: `xmpp:${prosody.jid('watch')}`,
  })
  const event = await waitFor('the bot presence event', () =>
    seen
      .slice(seenBefore)
      .find(
        (a) =>
          a.type === 'event' &&
          a.name === 'presence' &&
          (a.value as Presence).availability === 'away',
      ),
  )
  t.equal(event.from?.id, address)
  t.equal(event.recipient?.id, `xmpp:${prosody.jid('watch')}`)
  t.equal((event.value as Presence).status, 'at lunch')

  await alice.send(xml('presence', {}, xml('show', {}, 'xa')))
  await waitFor('xa -> away', async () => (await presenceOf(app, address)).raw === 'xa')
  await alice.send(xml('presence', {}, xml('show', {}, 'dnd')))
  await waitFor('dnd', async () => (await presenceOf(app, address)).availability === 'dnd')

  // The roster the server pushed is now the contact list.
  const contacts = (await app.inject({ method: 'GET', url: '/v1/contacts' })).json().contacts
  t.match(contacts, [{ address, subscription: 'both' }])

  // Logging out is offline, not unknown.
  alice.client.reconnect.stop()
  await alice.stop()
  await waitFor('offline', async () => (await presenceOf(app, address)).availability === 'offline')
})

t.test(
  'Prosody down: presence is unknown, never a stale available; back: correct again',
  async (t) => {
    const { prosody, app, address } = await watchedAlice(t)

    await prosody.stop()
    const down = await waitFor('unknown', async () => {
      const p = await presenceOf(app, address)
      return p.availability === 'unknown' ? p : undefined
    })
    t.equal(down.reason, 'network-offline')
    // Prosody says goodbye for its users as it stops: the last thing it told is kept, not shown as current.
    t.match(down.lastKnown, { availability: /^(available|offline)$/, from: 'redis' })

    await prosody.start()
    await waitFor('online again', async () => app.networks.isOnline('xmpp'), 20_000)
    const back = await waitFor(
      'available again',
      async () => {
        const p = await presenceOf(app, address)
        return p.availability === 'available' ? p : undefined
      },
      20_000,
    )
    t.notOk(back.reason)
    t.ok(
      back.observedAt && back.observedAt > (down.lastKnown?.observedAt ?? ''),
      'a fresh observation',
    )
  },
)

t.test('contact request: the bot gets contactRelationUpdate and approves', async (t) => {
  const prosody = await startPeer(t)
  await testApp(t, appConfig(prosody, 'approve'))
  const stranger = await user(t, prosody, 'stranger')
  const seenBefore = seen.length
  await stranger.send(xml('presence', { to: prosody.jid('watch'), type: 'subscribe' }))
  await stranger.waitFor(isPresence('subscribed', prosody.jid('watch')))
  // Approved: the stranger now sees the bot's presence.
  await stranger.waitFor(
    (s) =>
      s.is('presence') &&
      s.attrs.type === undefined &&
      String(s.attrs.from).startsWith(`${prosody.jid('watch')}/`),
  )
  const update = seen
    .slice(seenBefore)
    .find((a) => a.type === 'contactRelationUpdate' && a.from?.id === `xmpp:${stranger.bare}`)
  t.equal(update?.action, 'add')
  t.equal(update?.recipient?.id, `xmpp:${prosody.jid('watch')}`)
  // ...and the bot asks for theirs in return.
  await stranger.waitFor(isPresence('subscribe', prosody.jid('watch')))
})

t.test('contact request with no decision stays pending; REST refuses it', async (t) => {
  const prosody = await startPeer(t)
  const app = await testApp(t, appConfig(prosody, 'none'))
  const stranger = await user(t, prosody, 'stranger')
  const address = `xmpp:${stranger.bare}`
  await stranger.send(xml('presence', { to: prosody.jid('watch'), type: 'subscribe' }))
  const contact = await waitFor('a pending-in contact', async () => {
    const list = (await app.inject({ method: 'GET', url: '/v1/contacts' })).json().contacts
    return list.find(
      (c: { address: string; subscription: string }) =>
        c.address === address && c.subscription === 'pending-in',
    )
  })
  t.ok(
    seen.some((a) => a.type === 'contactRelationUpdate' && a.from?.id === address),
    'the bot was told',
  )
  // Nothing is auto-accepted.
  await new Promise((resolve) => setTimeout(resolve, 1000))
  t.notOk(
    stranger.received.some(isPresence('subscribed', prosody.jid('watch'))),
    'no subscribed sent without a decision',
  )
  const refused = await app.inject({ method: 'POST', url: `/v1/contacts/${contact.id}/refuse` })
  t.equal(refused.statusCode, 200)
  t.equal(refused.json().subscription, 'refused')
  await stranger.waitFor(isPresence('unsubscribed', prosody.jid('watch')))
  const again = await app.inject({ method: 'POST', url: `/v1/contacts/${contact.id}/approve` })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'PARLEY_ERR_CONTACT_STATE')
  const missing = await app.inject({
    method: 'POST',
    url: '/v1/contacts/00000000-0000-4000-8000-000000000000/approve',
  })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'PARLEY_ERR_CONTACT_NOT_FOUND')
})

t.test('host restart: last known presence is served, marked, until fresh updates', async (t) => {
  const prosody = await startPeer(t)
  const config = testConfig(t, appConfig(prosody))
  const first = withAdminKey(
    await buildApp(config, { rootDir: new URL('../../', import.meta.url).pathname }),
  )
  const alice = await user(t, prosody, 'alice')
  const address = `xmpp:${alice.bare}`
  await watchAccepted(app(first), prosody, alice)
  await alice.send(xml('presence', {}, xml('show', {}, 'dnd'), xml('status', {}, 'focus')))
  await waitFor('dnd', async () => (await presenceOf(first, address)).availability === 'dnd')
  await first.close()

  // The network cannot connect yet: what Parley knows is the last known value.
  await prosody.stop()
  const second = withAdminKey(
    await buildApp(config, { rootDir: new URL('../../', import.meta.url).pathname }),
  )
  t.teardown(() => second.close())
  const fromRedis = await presenceOf(second, address)
  t.match(fromRedis, {
    availability: 'unknown',
    reason: 'network-offline',
    lastKnown: { availability: 'dnd', status: 'focus', from: 'redis' },
  })
  // Without Redis's copy (flushed), the database's is served.
  const redis = new Redis(REDIS_URL)
  await redis.del(`${config.redis.prefix}:presence:current`)
  redis.disconnect()
  const restarted = withAdminKey(
    await buildApp(config, { rootDir: new URL('../../', import.meta.url).pathname }),
  )
  await second.close()
  t.teardown(() => restarted.close())
  t.match(await presenceOf(restarted, address), {
    availability: 'unknown',
    lastKnown: { availability: 'dnd', status: 'focus', from: 'database' },
  })
  await prosody.start()
  // Alice's client logs in again and announces plain presence: a fresh, current value.
  const fresh = await waitFor(
    'fresh presence',
    async () => {
      const p = await presenceOf(restarted, address)
      return p.availability === 'available' ? p : undefined
    },
    20_000,
  )
  t.notOk(fresh.lastKnown, 'current again, no longer marked')
})

t.test('batch query of 1,000 addresses, in order; bad addresses are 400 with a code', async (t) => {
  const { prosody, app, alice } = await watchedAlice(t)
  const addresses = Array.from({ length: 999 }, (_, i) => `xmpp:user${i}@${prosody.domain}`)
  addresses.splice(500, 0, `xmpp:${alice.bare}`)
  const res = await app.inject({
    method: 'POST',
    url: '/v1/presence/query',
    payload: { addresses },
  })
  t.equal(res.statusCode, 200)
  const { presence } = res.json() as { presence: Presence[] }
  t.equal(presence.length, 1000)
  t.same(
    presence.map((p) => p.address),
    addresses,
    'answers in the order asked',
  )
  t.equal(presence[500]?.availability, 'available')
  t.match(presence[0], { availability: 'unknown', reason: 'no-presence' })

  const tooMany = await app.inject({
    method: 'POST',
    url: '/v1/presence/query',
    payload: { addresses: [...addresses, `xmpp:one-more@${prosody.domain}`] },
  })
  t.equal(tooMany.statusCode, 400)
  t.equal(tooMany.json().code, 'PARLEY_ERR_VALIDATION')
  for (const [url, code] of [
    ['/v1/presence/nonet:alice@example.org', 'PARLEY_ERR_NETWORK_UNKNOWN'],
    ['/v1/presence/xmpp:@bad@@', 'PARLEY_ERR_ADDRESS_INVALID'],
    ['/v1/presence/no-colon', 'PARLEY_ERR_VALIDATION'],
  ] as const) {
    const bad = await app.inject({ method: 'GET', url })
    t.equal(bad.statusCode, 400, url)
    t.equal(bad.json().code, code, url)
  }
  const badBatch = await app.inject({
    method: 'POST',
    url: '/v1/presence/query',
    payload: { addresses: ['xmpp:fine@example.org', 'xmpp:a@b@c'] },
  })
  t.equal(badBatch.statusCode, 400)
  t.equal(badBatch.json().code, 'PARLEY_ERR_ADDRESS_INVALID')
})

/** Reads SSE events from a streaming fetch until `until` says stop. */
async function readEvents(
  url: string,
  headers: Record<string, string>,
  until: (events: Array<{ id?: string; data: Presence }>) => boolean,
  signal: AbortSignal,
) {
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal })
  if (!res.body) throw new Error('no body')
  const events: Array<{ id?: string; data: Presence }> = []
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true })
    let end = buffer.indexOf('\n\n')
    while (end >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      end = buffer.indexOf('\n\n')
      let id: string | undefined
      let data = ''
      for (const line of block.split('\n')) {
        if (line.startsWith('id:')) id = line.slice(3).trim()
        else if (line.startsWith('data:')) data += line.slice(5).trim()
      }
      if (data) events.push({ ...(id && { id }), data: JSON.parse(data) })
    }
    if (until(events)) break
  }
  return events
}

t.test(
  'SSE: changes stream out, and a reconnect with Last-Event-ID gets what was missed',
  async (t) => {
    const { app, alice, address } = await watchedAlice(t)
    const base = await app.listen({ port: 0, host: '127.0.0.1' })
    const url = `${base}/v1/presence/stream?addresses=${encodeURIComponent(address)}`

    const abort = new AbortController()
    t.teardown(() => abort.abort())
    const first = readEvents(
      url,
      adminHeaders(app.config),
      (e) => e.some((x) => x.data.availability === 'away'),
      abort.signal,
    )
    await new Promise((resolve) => setTimeout(resolve, 300))
    await alice.send(xml('presence', {}, xml('show', {}, 'away')))
    const events = await first
    t.equal(events[0]?.data.availability, 'available', 'starts with the current presence')
    const lastId = events.at(-1)?.id
    t.ok(lastId, 'events carry ids')

    // Missed while disconnected: dnd, then chat (available).
    await alice.send(xml('presence', {}, xml('show', {}, 'dnd')))
    await waitFor('dnd', async () => (await presenceOf(app, address)).availability === 'dnd')
    await alice.send(xml('presence', {}, xml('show', {}, 'chat'), xml('status', {}, 'back')))
    await waitFor('back', async () => (await presenceOf(app, address)).status === 'back')
    const resumed = await readEvents(
      url,
      { ...adminHeaders(app.config), 'last-event-id': lastId as string },
      (e) => e.some((x) => x.data.status === 'back'),
      abort.signal,
    )
    t.same(
      resumed.map((e) => e.data.availability),
      ['dnd', 'available'],
      'exactly the missed changes, in order',
    )
    t.equal(resumed.at(-1)?.data.raw, 'chat')
  },
)

function app(a: Awaited<ReturnType<typeof buildApp>>): App {
  return a as App
}

t.test(
  'the roster fetched at login becomes the contact list (and drops what left it)',
  async (t) => {
    const prosody = await startPeer(t)
    // Before Parley runs, its account already has alice as a mutual contact.
    const watch = await connectRawUser(prosody, 'watch', 'watch-pass')
    const alice = await user(t, prosody, 'alice')
    await watch.send(xml('presence', { to: alice.bare, type: 'subscribe' }))
    await alice.waitFor(isPresence('subscribe', prosody.jid('watch')))
    await alice.send(xml('presence', { to: prosody.jid('watch'), type: 'subscribed' }))
    await watch.waitFor((s) => s.is('presence') && String(s.attrs.from).startsWith(alice.bare))
    await watch.stop()

    const app = await testApp(t, appConfig(prosody))
    const contacts = await waitFor('the roster as contacts', async () => {
      const list = (await app.inject({ method: 'GET', url: '/v1/contacts' })).json().contacts
      return list.length > 0 ? list : undefined
    })
    t.match(contacts, [{ address: `xmpp:${alice.bare}`, subscription: 'both' }])
    await waitFor(
      "alice's presence after login",
      async () => (await presenceOf(app, `xmpp:${alice.bare}`)).availability === 'available',
    )

    // A stale contact (not in the roster) goes at the next login; a pending request stays.
    await app.store.contacts.upsert({
      identity: `xmpp:${prosody.jid('watch')}`,
      address: `xmpp:gone@${prosody.domain}`,
      subscription: 'both',
    })
    await app.store.contacts.upsert({
      identity: `xmpp:${prosody.jid('watch')}`,
      address: `xmpp:asking@${prosody.domain}`,
      subscription: 'pending-in',
    })
    await prosody.stop()
    await prosody.start()
    await waitFor(
      'the stale contact dropped',
      async () => {
        const list = (await app.inject({ method: 'GET', url: '/v1/contacts' })).json().contacts as {
          address: string
        }[]
        return !list.some((c) => c.address.startsWith('xmpp:gone@'))
      },
      20_000,
    )
    const after = (await app.inject({ method: 'GET', url: '/v1/contacts' })).json().contacts as {
      address: string
      subscription: string
    }[]
    t.same(
      after.map((c) => [c.address, c.subscription]),
      [
        [`xmpp:alice@${prosody.domain}`, 'both'],
        [`xmpp:asking@${prosody.domain}`, 'pending-in'],
      ],
    )
  },
)

t.test('a bot watches someone; REST unwatches: unsubscribed, forgotten, not-watched', async (t) => {
  const prosody = await startPeer(t)
  const app = await testApp(t, appConfig(prosody))
  const alice = await user(t, prosody, 'alice')
  const stranger = await user(t, prosody, 'stranger')
  const address = `xmpp:${stranger.bare}`
  // Alice asks the bot (a message) to watch the stranger: the bot uses contacts.watch().
  await alice.message(prosody.jid('watch'), `watch ${address}`)
  await alice.waitFor((s) => s.is('message') && s.getChildText('body') === `watching ${address}`, {
    timeoutMs: 10_000,
  })
  await stranger.waitFor(isPresence('subscribe', prosody.jid('watch')))
  await stranger.send(xml('presence', { to: prosody.jid('watch'), type: 'subscribed' }))
  await waitFor(
    'stranger available',
    async () => (await presenceOf(app, address)).availability === 'available',
  )
  const contact = (await app.inject({ method: 'GET', url: '/v1/contacts' }))
    .json()
    .contacts.find((c: { address: string }) => c.address === address)
  t.equal(contact?.subscription, 'both')

  const since = stranger.received.length
  const res = await app.inject({ method: 'DELETE', url: `/v1/contacts/${contact.id}` })
  t.equal(res.statusCode, 204)
  await stranger.waitFor(isPresence('unsubscribe', prosody.jid('watch')), { since })
  t.equal((await app.inject({ method: 'GET', url: `/v1/contacts/${contact.id}` })).statusCode, 404)
  t.match(await presenceOf(app, address), { availability: 'unknown', reason: 'not-watched' })
  // The server's roster push after the unsubscribe does not bring the contact back.
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.same((await app.inject({ method: 'GET', url: '/v1/contacts' })).json().contacts, [])
})

t.test('an identity configured to auto-accept approves requests itself', async (t) => {
  const prosody = await startPeer(t)
  const base = appConfig(prosody, 'none')
  const app = await testApp(t, {
    ...base,
    presence: { ...base.presence, autoAccept: [`xmpp:${prosody.jid('watch')}`] },
  })
  const stranger = await user(t, prosody, 'stranger')
  await stranger.send(xml('presence', { to: prosody.jid('watch'), type: 'subscribe' }))
  await stranger.waitFor(isPresence('subscribed', prosody.jid('watch')))
  // ...and asks for theirs in return, as an approval does.
  await stranger.waitFor(isPresence('subscribe', prosody.jid('watch')))
  // Not left waiting for a decision: the contact moves on from pending-in.
  const contact = await waitFor('the contact decided', async () =>
    (await app.inject({ method: 'GET', url: '/v1/contacts' }))
      .json()
      .contacts.find(
        (c: { address: string; subscription: string }) =>
          c.address === `xmpp:${stranger.bare}` && c.subscription !== 'pending-in',
      ),
  )
  t.match(contact.subscription, /^(pending-out|both)$/)
})
