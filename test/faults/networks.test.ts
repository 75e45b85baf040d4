import t from 'tap'
import type { HostProcess } from '../helpers/host-process.js'
import type { SipUser } from '../peers/sip-user.js'
import { Conversation } from './conversation.js'
import { reportScenario } from './report.js'
import { faultWorld } from './world.js'

/**
 * The networks' own servers fail under a steady conversation: Prosody and
 * Kamailio restart, and Prosody freezes (a zombie: the socket stays open,
 * nothing answers). The plugins report it, reconnect with jittered backoff,
 * and deliver what was queued meanwhile; nothing is lost or duplicated.
 */
t.setTimeout(240_000)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Status changes of a network the host logged since `since` (its log index). */
function statusLines(host: HostProcess, network: string, since: number) {
  return host.logs
    .slice(since)
    .filter((l) => l.entry?.msg === 'network status' && l.entry.network === network)
    .map((l) => ({ to: String(l.entry?.to), reason: String(l.entry?.reason ?? '') }))
}

t.test('Prosody restarts mid-load: reported, reconnected, everything delivered', async (t) => {
  const world = await faultWorld(t, { xmppUsers: 2 })
  const prosody = world.prosody
  if (!prosody) throw new Error('no prosody')
  const talk = new Conversation({ tag: 'prosody', parties: world.parties, perParty: 500, rate: 70 })
  talk.start()
  await talk.sentAtLeast(300)
  const since = world.host.logs.length
  const faultAt = performance.now()
  await prosody.stop()
  await world.host.waitForNetwork('xmpp', ['offline', 'connecting'], 10_000)
  await sleep(1500)
  await prosody.start()
  await world.host.waitForNetwork('xmpp', ['online'], 30_000)
  await talk.finish(60_000)
  const changes = statusLines(world.host, 'xmpp', since)
  t.ok(
    changes.some((c) => c.to === 'offline'),
    `the outage was reported: ${changes.map((c) => `${c.to} (${c.reason})`).join(', ')}`,
  )
  t.ok(
    changes.some((c) => /reconnecting \(attempt \d+\)/.test(c.reason)),
    'reconnect attempts are reported',
  )
  t.equal(changes.at(-1)?.to, 'online', 'online again')
  reportScenario(
    t,
    { scenario: 'Prosody restart', network: 'xmpp', recoverMs: talk.recoveryMs(faultAt) },
    talk.tally(world.ledger),
  )
})

t.test('Kamailio restarts mid-load: reported, reconnected, everything delivered', async (t) => {
  const world = await faultWorld(t, {
    sip: { addresses: ['127.0.0.53', '127.0.0.54', '127.0.0.55'] },
  })
  const kamailio = world.kamailio
  const user = world.sipUsers[0] as SipUser
  if (!kamailio) throw new Error('no kamailio')
  const talk = new Conversation({
    tag: 'kamailio',
    parties: world.parties,
    perParty: 1000,
    rate: 70,
  })
  talk.start()
  await talk.sentAtLeast(300)
  const since = world.host.logs.length
  const faultAt = performance.now()
  user.dropConnections()
  await kamailio.stop()
  await world.host.waitForNetwork('sip', ['offline', 'connecting', 'degraded'], 10_000)
  await sleep(1500)
  await kamailio.start()
  // Kamailio keeps registrations in memory: its users register again, as
  // clients do when their connection to the server drops.
  t.equal(await user.register(), 200, 'the user registers again')
  await world.host.waitForNetwork('sip', ['online'], 30_000)
  await talk.finish(60_000)
  const changes = statusLines(world.host, 'sip', since)
  t.ok(
    changes.some((c) => c.to === 'offline'),
    `the outage was reported: ${changes.map((c) => `${c.to} (${c.reason})`).join(', ')}`,
  )
  t.equal(changes.at(-1)?.to, 'online', 'online again')
  reportScenario(
    t,
    { scenario: 'Kamailio restart', network: 'sip', recoverMs: talk.recoveryMs(faultAt) },
    talk.tally(world.ledger),
  )
})

t.test(
  'a zombie Prosody (paused, socket open): degraded within the liveness bound, then reconnected',
  async (t) => {
    const world = await faultWorld(t, { xmppUsers: 1 })
    const prosody = world.prosody
    if (!prosody) throw new Error('no prosody')
    const talk = new Conversation({
      tag: 'zombie',
      parties: world.parties,
      perParty: 1000,
      rate: 70,
    })
    talk.start()
    await talk.sentAtLeast(300)
    const since = world.host.logs.length
    const faultAt = performance.now()
    prosody.pause()
    let paused = true
    t.teardown(() => {
      if (paused) prosody.resume()
    })
    // 'degraded' lasts until the plugin drops the socket: the status line is the witness.
    await world.host.waitForLog(
      (l) =>
        l.entry?.msg === 'network status' &&
        l.entry.network === 'xmpp' &&
        l.entry.to === 'degraded',
      { since, timeoutMs: 10_000 },
    )
    const detectedMs = performance.now() - faultAt
    // pingIntervalMs 2000 + pingTimeoutMs 1500 (test/faults/world.ts), plus the check's tick.
    t.ok(detectedMs < 5000, `degraded after ${Math.round(detectedMs)} ms (bound 5000 ms)`)
    await sleep(1000)
    prosody.resume()
    paused = false
    await world.host.waitForNetwork('xmpp', ['online'], 30_000)
    await talk.finish(60_000)
    const changes = statusLines(world.host, 'xmpp', since)
    const degraded = changes.find((c) => c.to === 'degraded')
    t.match(degraded?.reason, /no answer to ping/, 'reported degraded by the liveness check')
    t.equal(changes.at(-1)?.to, 'online', 'online again')
    reportScenario(
      t,
      {
        scenario: 'zombie Prosody (SIGSTOP)',
        network: 'xmpp',
        recoverMs: talk.recoveryMs(faultAt),
        note: `degraded after ${Math.round(detectedMs)} ms`,
      },
      talk.tally(world.ledger),
    )
  },
)
