/**
 * Connection lifecycle against a real Prosody: bad credentials, a server that
 * is down, restarted or frozen, and start/stop at awkward moments.
 */
import t, { type Test } from 'tap'
import type { Connection, ConnectionState } from '../../../core/contract/index.js'
import plugin from '../../../plugins/xmpp/index.js'
import { createPluginContext, type FakePluginContext } from '../../helpers/plugin-context.js'
import { type ProsodyPeer, startProsody } from '../../peers/prosody.js'
import { connectRawUser } from '../../peers/raw-xmpp.js'
import { startTcpProxy } from '../../peers/tcp-proxy.js'

const BOT = 'xmpp:bot@parley.test'
const ALICE = 'xmpp:alice@parley.test'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const states = (ctx: FakePluginContext, since = 0): ConnectionState[] =>
  ctx.statuses.slice(since).map((s) => s.state)

async function prosody(t: Test): Promise<ProsodyPeer> {
  const peer = await startProsody({
    users: [
      { username: 'bot', password: 'bot-pw' },
      { username: 'alice', password: 'alice-pw' },
    ],
  })
  t.teardown(() => peer.stop())
  return peer
}

function bot(
  t: Test,
  peer: { service: string; domain: string },
  options: Record<string, unknown> = {},
) {
  const ctx = createPluginContext()
  const conn: Connection = plugin.create(ctx, {
    service: peer.service,
    domain: peer.domain,
    username: 'bot',
    password: 'bot-pw',
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    connectTimeoutMs: 2000,
    ...options,
  })
  t.teardown(() => conn.stop())
  return { ctx, conn }
}

t.test('bad credentials: start fails for good, status failed, no reconnect loop', async (t) => {
  const peer = await prosody(t)
  const proxy = await startTcpProxy({ port: peer.port })
  t.teardown(() => proxy.close())
  const { ctx, conn } = bot(
    t,
    { service: proxy.service, domain: peer.domain },
    { password: 'wrong' },
  )
  await t.rejects(conn.start(), {
    name: 'PluginError',
    code: 'PARLEY_ERR_AUTH_FAILED',
    retryable: false,
    condition: 'not-authorized',
  })
  t.same(states(ctx), ['connecting', 'failed'])
  t.match(ctx.statuses[1], { retryable: false, condition: 'not-authorized' })
  await sleep(600)
  t.same(states(ctx), ['connecting', 'failed'], 'nothing more after ten backoff periods')
  t.equal(proxy.accepted, 1, 'one TCP connection, no retries')
  await conn.stop()
  t.same(states(ctx), ['connecting', 'failed'], 'stop after failure reports nothing new')
})

t.test(
  'server down at start: start rejects retryable, then the plugin connects by itself',
  async (t) => {
    const peer = await prosody(t)
    await peer.stop()
    const { ctx, conn } = bot(t, peer)
    const started = Date.now()
    const error = await conn.start().catch((e: unknown) => e)
    t.match(error, {
      name: 'PluginError',
      code: 'PARLEY_ERR_NOT_CONNECTED',
      retryable: true,
      condition: 'ECONNREFUSED',
    })
    t.ok(Date.now() - started < 1000, 'fails fast')
    t.match(ctx.statuses.slice(0, 2), [
      { state: 'connecting' },
      { state: 'offline', retryable: true, condition: 'ECONNREFUSED' },
    ])
    await ctx.waitForStatus((s) => s.state === 'connecting', { since: 2 })
    await peer.start()
    await ctx.waitForStatus((s) => s.state === 'online', { timeoutMs: 5000 })
    const alice = await connectRawUser(peer, 'alice', 'alice-pw')
    t.teardown(() => alice.stop())
    await conn.send({ id: 'after-start', from: BOT, to: ALICE, text: 'finally' })
    await alice.waitFor((s) => s.getChildText('body') === 'finally')
    const delays = ctx.statuses.filter((s) => s.state === 'connecting').length
    t.ok(delays >= 2, `retried (${delays} attempts)`)
  },
)

t.test(
  'server restart: offline, online again on a new session, messages flow, no extra drops',
  async (t) => {
    const peer = await prosody(t)
    const { ctx, conn } = bot(t, peer)
    await conn.start()
    const mark = ctx.mark()
    await peer.stop()
    const offline = await ctx.waitForStatus((s) => s.state === 'offline', { since: mark.statuses })
    t.equal(offline.retryable, true)
    t.ok(offline.reason, `has a reason (${offline.reason})`)
    await ctx.waitForStatus((s) => s.state === 'connecting', { since: mark.statuses })
    await peer.start()
    const online = await ctx.waitForStatus((s) => s.state === 'online', {
      since: mark.statuses,
      timeoutMs: 5000,
    })
    t.not(online.reason, 'stream resumed', 'the old session died with the server: a new one')
    const alice = await connectRawUser(peer, 'alice', 'alice-pw')
    t.teardown(() => alice.stop())
    const { remoteId } = await conn.send({
      id: 'after-restart',
      from: BOT,
      to: ALICE,
      text: 'back again',
    })
    const received = await alice.waitFor((s) => s.getChildText('body') === 'back again')
    t.equal(received.attrs.id, remoteId)
    await alice.message('bot@parley.test', 'welcome back', { id: 'wb-1' })
    await ctx.waitForEvent((e) => e.type === 'message' && e.remoteId === 'wb-1')
    // A failed resumption used to leave a stale XEP-0198 counter behind and
    // cost two or three more disconnects. Give them time to show up.
    const onlineAt = ctx.statuses.lastIndexOf(online)
    await sleep(1000)
    t.same(states(ctx, onlineAt), ['online'], 'stays online')
    t.notOk(
      /handled -?\d+ new stanzas/.test(await peer.logTail(200)),
      'Prosody saw no bad XEP-0198 counts',
    )
  },
)

t.test('a frozen server is detected: degraded, then reconnect once it answers', async (t) => {
  const peer = await prosody(t)
  const { ctx, conn } = bot(t, peer, {
    pingIntervalMs: 200,
    pingTimeoutMs: 300,
    connectTimeoutMs: 600,
  })
  await conn.start()
  const mark = ctx.mark()
  peer.pause()
  const degraded = await ctx.waitForStatus((s) => s.state === 'degraded', {
    since: mark.statuses,
    timeoutMs: 3000,
  })
  t.match(degraded, { retryable: true, condition: 'ping-timeout' })
  await ctx.waitForStatus((s) => s.state === 'offline', { since: mark.statuses })
  // While frozen, attempts time out (the kernel accepts the TCP connection, nobody speaks).
  await ctx.waitForStatus((s) => s.state === 'offline' && s.condition === 'ETIMEDOUT', {
    since: mark.statuses,
    timeoutMs: 3000,
  })
  peer.resume()
  await ctx.waitForStatus((s) => s.state === 'online', { since: mark.statuses, timeoutMs: 5000 })
  const seen = states(ctx, mark.statuses)
  t.equal(seen[0], 'degraded', 'degraded first')
  t.equal(seen[1], 'offline', 'then offline')
  t.equal(seen.at(-1), 'online')
  await conn.send({ id: 'after-freeze', from: BOT, to: ALICE, text: 'awake' })
})

t.test('a busy line needs no pings: real traffic is proof of life', async (t) => {
  const peer = await prosody(t)
  const proxy = await startTcpProxy({ port: peer.port })
  t.teardown(() => proxy.close())
  const { ctx, conn } = bot(
    t,
    { service: proxy.service, domain: peer.domain },
    {
      pingIntervalMs: 300,
      pingTimeoutMs: 200,
    },
  )
  await conn.start()
  const alice = await connectRawUser(peer, 'alice', 'alice-pw')
  t.teardown(() => alice.stop())
  const mark = ctx.mark()
  for (let i = 0; i < 10; i++) {
    await alice.message('bot@parley.test', `tick ${i}`)
    await sleep(100)
  }
  t.same(states(ctx, mark.statuses), [], 'online throughout')
  t.equal(ctx.events.filter((e) => e.type === 'message').length, 10)
})

t.test('stop is idempotent and safe before, during and after start', async (t) => {
  const peer = await prosody(t)
  const { ctx, conn } = bot(t, peer)
  await conn.stop()
  await Promise.all([conn.stop(), conn.stop()])
  t.same(ctx.statuses, [], 'stop before start reports nothing')

  await conn.start()
  await conn.start()
  t.same(states(ctx), ['connecting', 'online'], 'a second start while online is a no-op')
  await Promise.all([conn.stop(), conn.stop()])
  t.same(states(ctx), ['connecting', 'online', 'offline'])
  t.match(ctx.statuses.at(-1), { state: 'offline', reason: 'stopped' })
  await conn.stop()
  t.equal(ctx.statuses.length, 3, 'stop after stop reports nothing')

  await conn.start()
  t.equal(ctx.statuses.at(-1)?.state, 'online', 'start again after stop')
  const [first, second] = await Promise.allSettled([conn.stop(), conn.start()])
  t.equal(first.status, 'fulfilled')
  t.equal(second.status, 'fulfilled', 'start during stop waits for the stop, then starts')
  t.equal(ctx.statuses.at(-1)?.state, 'online')
  await conn.stop()
  await t.rejects(conn.send({ id: 'x', from: BOT, to: ALICE, text: 'x' }), {
    code: 'PARLEY_ERR_NOT_CONNECTED',
    retryable: true,
  })
})

t.test('stop while reconnecting ends the retries', async (t) => {
  const peer = await prosody(t)
  await peer.stop()
  const { ctx, conn } = bot(t, peer)
  const starting = conn.start().catch((e: unknown) => e)
  const stopping = conn.stop()
  const error = await starting
  await stopping
  t.match(error, { name: 'PluginError' }, 'start rejects when stopped before online')
  const count = ctx.statuses.length
  t.equal(ctx.statuses.at(-1)?.state, 'offline')
  await sleep(500)
  t.equal(ctx.statuses.length, count, 'no more attempts after stop')
  await peer.start()
  await sleep(300)
  t.equal(ctx.statuses.length, count, 'still none once the server is back')
})

t.test('the host aborting its signal stops the connection', async (t) => {
  const peer = await prosody(t)
  const { ctx, conn } = bot(t, peer)
  await conn.start()
  ctx.abort()
  await ctx.waitForStatus((s) => s.state === 'offline' && s.reason === 'stopped')
  await t.rejects(conn.send({ id: 'after-abort', from: BOT, to: ALICE, text: 'x' }), {
    code: 'PARLEY_ERR_NOT_CONNECTED',
  })
})

t.test(
  'the roster is fetched at login and initial presence sent on every new session',
  async (t) => {
    const peer = await prosody(t)
    const alice = await connectRawUser(peer, 'alice', 'alice-pw')
    t.teardown(() => alice.stop())
    const { ctx, conn } = bot(t, peer)
    await conn.start()
    t.ok(
      ctx.logs.some((l) => l.msg === 'authenticating' && l.obj.mechanism === 'PLAIN'),
      'PLAIN on the loopback (SCRAM-SHA-1 costs the client over a second of CPU)',
    )
    t.equal(ctx.stateMap.get('roster'), '[]', 'empty roster stored')
    t.ok(
      ctx.logs.some((l) => l.msg === 'roster fetched'),
      'roster fetched',
    )
    // Prosody routes a message to the bare JID only to available resources:
    // if no initial presence had been sent it would go to offline storage.
    await alice.message('bot@parley.test', 'are you there?', { id: 'p-1' })
    await ctx.waitForEvent((e) => e.remoteId === 'p-1', { timeoutMs: 2000 })
    const mark = ctx.mark()
    await peer.stop()
    await peer.start()
    await ctx.waitForStatus((s) => s.state === 'online', { since: mark.statuses, timeoutMs: 5000 })
    const alice2 = await connectRawUser(peer, 'alice', 'alice-pw')
    t.teardown(() => alice2.stop())
    await alice2.message('bot@parley.test', 'and now?', { id: 'p-2' })
    await ctx.waitForEvent((e) => e.remoteId === 'p-2', { timeoutMs: 2000 })
    t.equal(
      ctx.logs.filter((l) => l.msg === 'roster fetched').length,
      2,
      'fetched again on the new session',
    )
  },
)
