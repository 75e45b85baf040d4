import t from 'tap'
import { Conversation } from './conversation.js'
import { reportScenario } from './report.js'
import { faultWorld } from './world.js'

/**
 * Redis and the database fail under a steady conversation. The host
 * survives; what it accepted before is still delivered; what arrived during
 * the outage is either accepted and delivered, or refused back to its
 * sender with an error (who sends it again): never silently dropped.
 *
 * Redis is a dedicated redis-server (test/peers/redis.ts) with the
 * append-only file fsynced on every write, as BullMQ needs in production;
 * PostgreSQL is the shared server reached through a TCP proxy that the
 * test cuts ("stopped": connections dropped, new ones refused).
 */
t.setTimeout(240_000)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function healthOf(world: { host: { fetch(path: string): Promise<Response> } }) {
  const res = await world.host.fetch('/health')
  return { status: res.status, body: (await res.json()) as { redis?: string; database?: string } }
}

t.test('Redis crashes and restarts mid-load: the host survives, nothing lost', async (t) => {
  const world = await faultWorld(t, { xmppUsers: 2, dedicatedRedis: true })
  const redis = world.redis
  if (!redis) throw new Error('no redis')
  const talk = new Conversation({ tag: 'redis', parties: world.parties, perParty: 500, rate: 70 })
  talk.start()
  await talk.sentAtLeast(300)
  const faultAt = performance.now()
  await redis.kill()
  await sleep(500)
  const during = await healthOf(world)
  t.equal(during.status, 503, 'the host says it cannot work')
  t.equal(during.body.redis, 'down')
  await sleep(2000)
  await redis.start()
  await talk.finish(90_000)
  t.ok(world.host.running, 'the host survived')
  t.equal(world.host.starts, 1, 'without a restart')
  t.equal((await healthOf(world)).status, 200, 'healthy again')
  reportScenario(
    t,
    { scenario: 'Redis crash + restart', network: 'xmpp', recoverMs: talk.recoveryMs(faultAt) },
    talk.tally(world.ledger),
  )
})

t.test('Redis paused (CLIENT PAUSE) mid-load: the host survives, nothing lost', async (t) => {
  const world = await faultWorld(t, {
    sip: { addresses: ['127.0.0.56', '127.0.0.57', '127.0.0.58'] },
    dedicatedRedis: true,
  })
  const redis = world.redis
  if (!redis) throw new Error('no redis')
  const talk = new Conversation({ tag: 'pause', parties: world.parties, perParty: 1000, rate: 70 })
  talk.start()
  await talk.sentAtLeast(300)
  const faultAt = performance.now()
  await redis.pause(3000)
  await talk.finish(90_000)
  t.ok(world.host.running, 'the host survived')
  t.equal(world.host.starts, 1, 'without a restart')
  reportScenario(
    t,
    { scenario: 'Redis CLIENT PAUSE 3 s', network: 'sip', recoverMs: talk.recoveryMs(faultAt) },
    talk.tally(world.ledger),
  )
})

t.test('PostgreSQL unreachable for 3 s mid-load: the host survives, nothing lost', async (t) => {
  const world = await faultWorld(t, {
    sip: { addresses: ['127.0.0.56', '127.0.0.57', '127.0.0.58'] },
    proxiedPostgres: true,
  })
  const proxy = world.pgProxy
  if (!proxy) throw new Error('no proxy')
  const talk = new Conversation({ tag: 'pg', parties: world.parties, perParty: 1000, rate: 70 })
  talk.start()
  await talk.sentAtLeast(300)
  const faultAt = performance.now()
  proxy.outage()
  await sleep(500)
  const during = await healthOf(world)
  t.equal(during.status, 503, 'the host says it cannot work')
  t.equal(during.body.database, 'down')
  await sleep(2500)
  proxy.restore()
  await talk.finish(90_000)
  t.ok(world.host.running, 'the host survived')
  t.equal(world.host.starts, 1, 'without a restart')
  t.equal((await healthOf(world)).status, 200, 'healthy again')
  reportScenario(
    t,
    { scenario: 'PostgreSQL down 3 s', network: 'sip', recoverMs: talk.recoveryMs(faultAt) },
    talk.tally(world.ledger),
  )
})
