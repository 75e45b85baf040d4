import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { buildApp } from '../../../core/app.js'
import type { ParleyConfig } from '../../../core/config/schema.js'
import {
  deleteRedisPrefix,
  fakePlugin,
  REDIS_URL,
  ROOT,
  testConfig,
  waitFor,
  withAdminKey,
} from '../../helpers/app.js'
import { fakeConnections } from '../../helpers/fake-network/index.js'

const LEASE_MS = 1500
const RENEW_MS = 200

/** One host process's worth of Parley (in this test process), on a config shared with its peers. */
async function host(t: Test, shared: ParleyConfig, instanceId: string) {
  const key = randomUUID()
  const config: ParleyConfig = {
    ...shared,
    cluster: { instanceId, leaseMs: LEASE_MS, renewMs: RENEW_MS },
    plugins: [{ enabled: true, ...fakePlugin(key) }],
    bots: [{ enabled: true, name: 'echo', identities: ['fake:bot@fake.test'], options: {} }],
  } as ParleyConfig
  const app = withAdminKey(await buildApp(config, { rootDir: ROOT }))
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await app.close()
  }
  t.teardown(close)
  return { app, key, close, fake: () => fakeConnections.get(key) }
}

function sharedConfig(t: Test, redisPrefix?: string): ParleyConfig {
  if (redisPrefix) t.teardown(() => deleteRedisPrefix(redisPrefix))
  return testConfig(t, {
    cluster: { leaseMs: LEASE_MS, renewMs: RENEW_MS },
    queues: { lockMs: 2000 },
    ...(redisPrefix && { redis: { prefix: redisPrefix } }),
  })
}

async function networkView(app: Awaited<ReturnType<typeof host>>['app']) {
  const res = await app.inject({ method: 'GET', url: '/v1/networks/fake' })
  return res.json() as {
    status: string
    lease: { owner: string | null; mine: boolean; fence: number } | null
  }
}

t.test('one owner among several processes; the others mirror its status', async (t) => {
  // A Redis Cluster hash-tag prefix (all keys on one slot) works like a plain one.
  const shared = sharedConfig(t, `{ptest-${randomUUID().slice(0, 8)}}`)
  const a = await host(t, shared, 'proc-a')
  const b = await host(t, shared, 'proc-b')
  const c = await host(t, shared, 'proc-c')
  await waitFor('the first process online', () => a.fake()?.ctx && a.app.networks.isOnline('fake'))
  const views = await Promise.all([a, b, c].map((h) => networkView(h.app)))
  t.same(
    views.map((v) => v.lease?.owner),
    ['proc-a', 'proc-a', 'proc-a'],
    'every process names the same owner',
  )
  t.same(
    views.map((v) => v.lease?.mine),
    [true, false, false],
  )
  t.same(
    views.map((v) => v.status),
    ['online', 'online', 'online'],
    'the standbys report the owner’s status',
  )
  t.ok(a.app.leases.holds('fake'))
  t.notOk(b.app.leases.holds('fake'))
  t.equal(b.fake()?.statuses.length ?? 0, 0, 'a standby never started its connection')
})

t.test('a message sent over REST on a standby goes out on the owner’s connection', async (t) => {
  const shared = sharedConfig(t)
  const a = await host(t, shared, 'proc-a')
  const b = await host(t, shared, 'proc-b')
  await waitFor('online', () => a.app.networks.isOnline('fake'))
  const res = await b.app.inject({
    method: 'POST',
    url: '/v1/messages',
    payload: { from: 'fake:bot@fake.test', to: 'fake:alice@fake.test', text: 'via b' },
  })
  t.equal(res.statusCode, 202, res.body)
  const sent = await waitFor('the send on a', () => a.fake()?.sent.find((m) => m.text === 'via b'))
  t.equal(sent.to, 'fake:alice@fake.test')
  t.equal(b.fake()?.sent.length ?? 0, 0, 'nothing was sent by the standby')
})

t.test('a closing owner hands the connection over at once; nothing is lost', async (t) => {
  const shared = sharedConfig(t)
  const a = await host(t, shared, 'proc-a')
  const b = await host(t, shared, 'proc-b')
  await waitFor('a online', () => a.app.networks.isOnline('fake'))
  const fenceA = a.app.leases.fence('fake')
  const closedAt = Date.now()
  await a.close()
  await waitFor('b online', () => b.app.networks.isOnline('fake') && b.app.leases.holds('fake'))
  const handover = Date.now() - closedAt
  t.ok(handover < LEASE_MS, `taken over in ${handover} ms, before the lease would have lapsed`)
  t.ok((b.app.leases.fence('fake') ?? 0) > (fenceA ?? 0), 'the new owner has a higher fence')
  // An inbound message on the new owner is answered through it.
  await b.fake()?.receive('alice@fake.test', 'after handover', randomUUID())
  const reply = await waitFor('the echo', () =>
    b.fake()?.sent.find((m) => m.text === 'echo: after handover'),
  )
  t.equal(reply.to, 'fake:alice@fake.test')
})

t.test('an owner whose lease is taken stops sending at once (fencing)', async (t) => {
  const shared = sharedConfig(t)
  const a = await host(t, shared, 'proc-a')
  const b = await host(t, shared, 'proc-b')
  await waitFor('a online', () => a.app.networks.isOnline('fake'))
  const oldConnection = a.fake()
  t.ok(a.app.leases.holds('fake'))
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const leaseKey = `${shared.redis.prefix}:lease:fake`
  t.match(await redis.get(leaseKey), /^\d+\|proc-a$/)
  // The lease changes hands behind a's back, as when a paused or cut-off
  // owner's lease lapses and another process takes it.
  await redis.set(leaseKey, '999|proc-z', 'PX', 400)
  await waitFor('a gives up', () => !a.app.leases.holds('fake'), 3000)
  t.equal(a.app.networks.get('fake')?.lease?.mine, false)
  // Once the intruder's lease lapses, one of the two takes the network.
  const owner = await waitFor('a new owner online', () =>
    [a, b].find((h) => h.app.leases.holds('fake') && h.app.networks.isOnline('fake')),
  )
  const res = await a.app.inject({
    method: 'POST',
    url: '/v1/messages',
    payload: { from: 'fake:bot@fake.test', to: 'fake:bob@fake.test', text: 'after the pause' },
  })
  t.equal(res.statusCode, 202, res.body)
  await waitFor('sent by the owner', () =>
    owner.fake()?.sent.find((m) => m.text === 'after the pause'),
  )
  t.not(owner.fake(), oldConnection, 'a fresh connection, not the one that lost the lease')
  const connections = new Set([oldConnection, a.fake(), b.fake()])
  const copies = [...connections].flatMap(
    (c) => c?.sent.filter((m) => m.text === 'after the pause') ?? [],
  )
  t.equal(copies.length, 1, 'sent exactly once, on the current owner’s connection')
  t.equal(a.app.networks.get('fake')?.status.state, 'online', 'every process reports it online')
  t.equal(b.app.networks.get('fake')?.status.state, 'online')
})

t.test('the local clock fences: past its validity the lease is not trusted', async (t) => {
  const shared = sharedConfig(t)
  const a = await host(t, shared, 'proc-a')
  await waitFor('a online', () => a.app.networks.isOnline('fake'))
  t.ok(a.app.leases.holds('fake'))
  // Block this process's event loop past the lease time, as SIGSTOP would:
  // no timer can run, so only the local validity check can notice.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, LEASE_MS + 50)
  t.notOk(a.app.leases.holds('fake'), 'not trusted the moment the process runs again')
  // Nobody else wanted it: a takes it again, with a fresh connection.
  await waitFor(
    'a owns it again',
    () => a.app.leases.holds('fake') && a.app.networks.isOnline('fake'),
  )
  await a.fake()?.receive('alice@fake.test', 'again', randomUUID())
  await waitFor('echo on the fresh connection', () =>
    a.fake()?.sent.find((m) => m.text === 'echo: again'),
  )
  // The network's own routes see the connection in use now, not the stopped one.
  const own = await a.app.inject({ method: 'GET', url: '/v1/networks/fake/sent' })
  t.equal(own.json().sent, a.fake()?.sent.length)
  t.ok(own.json().sent > 0)
})

t.test('a process restarted under the same instance id takes its lease back at once', async (t) => {
  const shared = sharedConfig(t)
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const leaseKey = `${shared.redis.prefix}:lease:fake`
  // What a process killed with -9 leaves behind: its lease, still running for a minute.
  await redis.set(leaseKey, '7|proc-a', 'PX', 60_000)
  const a = await host(t, shared, 'proc-a')
  // The host's start made its first attempt: it won, with a minute left on the old lease.
  t.ok(a.app.leases.holds('fake'), 'held as soon as the host is up')
  await waitFor('a online', () => a.app.networks.isOnline('fake'))
  t.match(await redis.get(leaseKey), /^\d+\|proc-a$/)
  t.ok((a.app.leases.fence('fake') ?? 0) > 0)
  // Another id must wait for it.
  await redis.set(leaseKey, '8|proc-z', 'PX', 60_000)
  const b = await host(t, shared, 'proc-b')
  t.notOk(b.app.leases.holds('fake'), 'a lease held by another id is not taken')
  t.equal(b.app.networks.get('fake')?.lease?.owner, 'proc-z')
})
