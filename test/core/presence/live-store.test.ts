import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import t, { type Test } from 'tap'
import {
  compareVersions,
  type LiveEntry,
  LivePresenceStore,
  type LiveUpdate,
} from '../../../core/presence/live-store.js'
import { deleteRedisPrefix, REDIS_URL, waitFor } from '../../helpers/app.js'

const ECHO = 'xmpp:echo@example.org'
const ALICE = 'xmpp:alice@example.org'
const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger

/** A prefix of the test's own, deleted from Redis when the test ends. */
function testPrefix(t: Test): string {
  const prefix = `ptest-live-${randomUUID().slice(0, 8)}`
  t.teardown(() => deleteRedisPrefix(prefix))
  return prefix
}

/**
 * A LivePresenceStore with its own Redis connection, as one host process
 * has; closed (and its connection ended) when the test ends.
 */
function liveStore(
  t: Test,
  prefix: string,
  streamMaxLen = 10_000,
): { store: LivePresenceStore; redis: Redis } {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 })
  const store = new LivePresenceStore({ redisUrl: REDIS_URL, prefix, redis, streamMaxLen, log })
  t.teardown(async () => {
    await store.close()
    redis.disconnect()
  })
  return { store, redis }
}

function update(address: string, observedAt: string, overrides: Partial<LiveUpdate> = {}) {
  return {
    address,
    availability: 'available',
    observedAt,
    source: ECHO,
    ...overrides,
  } satisfies LiveUpdate
}

/** Every 'change' `store` emits from now on, in order. */
function changes(store: LivePresenceStore): LiveEntry[] {
  const seen: LiveEntry[] = []
  store.on('change', (entry) => seen.push(entry))
  return seen
}

/** Waits until `seen` holds the change with `version`, and resolves with it. */
function changeEvent(seen: LiveEntry[], version: string | undefined): Promise<LiveEntry> {
  return waitFor(`the change event of ${version}`, () => seen.find((e) => e.version === version))
}

t.test('compareVersions orders ms-seq stream ids numerically', async (t) => {
  t.ok(compareVersions('10-0', '9-5') > 0, "'10-0' > '9-5' (not text order)")
  t.ok(compareVersions('9-5', '10-0') < 0)
  t.ok(compareVersions('1-10', '1-9') > 0, 'sequence compared as a number')
  t.ok(compareVersions('1-9', '1-10') < 0)
  t.equal(compareVersions('1700000000000-3', '1700000000000-3'), 0)
  t.ok(compareVersions('1700000000001-0', '1700000000000-99') > 0, 'milliseconds first')
  t.ok(compareVersions('0-1', '0-0') > 0)
  t.equal(compareVersions('0-0', '0-0'), 0)
  const sorted = ['10-0', '9-5', '100-1', '9-10', '100-0'].sort(compareVersions)
  t.same(sorted, ['9-5', '9-10', '10-0', '100-0', '100-1'])
})

t.test('latest wins by observedAt; previous is returned', async (t) => {
  const prefix = testPrefix(t)
  const { store, redis } = liveStore(t, prefix)

  const [first, ...more] = await store.apply([
    update(ALICE, '2030-01-01T10:00:00.000Z', { availability: 'away', status: 'Lunch', raw: 'xa' }),
  ])
  t.same(more, [])
  t.match(first, {
    entry: {
      address: ALICE,
      availability: 'away',
      status: 'Lunch',
      raw: 'xa',
      observedAt: '2030-01-01T10:00:00.000Z',
      source: ECHO,
    },
  })
  t.notOk(first && 'previous' in first, 'nothing before the first update')
  const v1 = first?.entry.version ?? ''
  t.match(v1, /^\d+-\d+$/, 'the version is a stream id')

  t.same(
    await store.apply([update(ALICE, '2030-01-01T09:59:59.999Z', { availability: 'offline' })]),
    [],
    'an older observation is not accepted',
  )
  t.same((await store.getMany([ALICE]))[0], first?.entry, 'the store still has the newer one')
  t.same(
    JSON.parse((await redis.hget(store.hashKey, ALICE)) ?? '{}'),
    { a: 'away', t: '2030-01-01T10:00:00.000Z', o: ECHO, s: 'Lunch', r: 'xa', v: v1 },
    'Redis still holds the newer one',
  )
  t.equal(await redis.xlen(store.streamKey), 1, 'a dropped update is not in the stream')

  const [second] = await store.apply([
    update(ALICE, '2030-01-01T10:05:00.000Z', { availability: 'busy' }),
  ])
  t.match(second?.entry, { address: ALICE, availability: 'busy' })
  t.notOk(second?.entry && 'status' in second.entry, 'no status on the newer update')
  t.same(second?.previous, first?.entry, 'previous is what the address had, with its version')
  t.ok(compareVersions(second?.entry.version ?? '0-0', v1) > 0, 'a newer version')
  t.same((await store.getMany([ALICE]))[0], second?.entry)

  const [same] = await store.apply([
    update(ALICE, '2030-01-01T10:05:00.000Z', { availability: 'dnd' }),
  ])
  t.equal(same?.entry.availability, 'dnd', 'an equal observedAt is not older: accepted')
  t.same(same?.previous, second?.entry)

  const [removed] = await store.apply([
    update(ALICE, '2030-01-01T11:00:00.000Z', { availability: 'unknown' }),
  ])
  t.equal(removed?.entry.availability, 'unknown', 'a removed watch is recorded too')
  t.equal(await redis.xlen(store.streamKey), 4, 'one stream entry per accepted update')
})

t.test('one batch: each address decided on its own', async (t) => {
  const prefix = testPrefix(t)
  const { store } = liveStore(t, prefix)
  const bob = 'xmpp:bob@example.org'
  await store.apply([update(ALICE, '2030-01-01T10:00:00.000Z')])
  const accepted = await store.apply([
    update(ALICE, '2030-01-01T09:00:00.000Z', { availability: 'away' }),
    update(bob, '2030-01-01T09:00:00.000Z', { availability: 'busy' }),
  ])
  t.same(
    accepted.map((a) => [a.entry.address, a.entry.availability]),
    [[bob, 'busy']],
  )
  t.same(
    (await store.getMany([ALICE, bob, 'xmpp:nobody@example.org'])).map((e) => e?.availability),
    ['available', 'busy', undefined],
  )
  t.same(await store.apply([]), [], 'an empty batch')
})

t.test('one batch with two updates of one address: the newer wins everywhere', async (t) => {
  const prefix = testPrefix(t)
  const { store, redis } = liveStore(t, prefix)
  await store.start()
  const own = changes(store)
  const accepted = await store.apply([
    update(ALICE, '2030-01-01T10:00:00.000Z', { availability: 'busy' }),
    update(ALICE, '2030-01-01T09:00:00.000Z', { availability: 'away' }),
  ])
  const inRedis = JSON.parse((await redis.hget(store.hashKey, ALICE)) ?? '{}')
  t.equal(inRedis.a, 'busy', 'Redis kept the newer observation')
  t.same(
    accepted.map((a) => a.entry.availability),
    ['busy'],
    'the accepted entry is the update Redis took, not the dropped one',
  )
  // Once the store has read its own change back from the stream, its cache
  // must agree with Redis (the stream carries the same version, so it must
  // not have been cached with other contents).
  const [version] = accepted.map((a) => a.entry.version)
  t.equal(
    (await changeEvent(own, version)).availability,
    'busy',
    'the stream carries the newer observation',
  )
  t.equal(store.cached(ALICE)?.availability, 'busy', 'the process cache agrees with Redis')
})

t.test('two host processes: a write through A reaches B’s cache by the stream', async (t) => {
  const prefix = testPrefix(t)
  const a = liveStore(t, prefix)
  const b = liveStore(t, prefix)
  await a.store.start()
  await b.store.start()
  t.equal(b.store.position, '0-0', 'an empty stream')

  // B asks first: Redis has nothing, so B caches the absence.
  t.equal(b.store.cached(ALICE), undefined, 'B has never asked')
  t.same(await b.store.getMany([ALICE]), [undefined])
  t.equal(b.store.cached(ALICE), null, 'B caches that Redis has nothing')

  // From here on B must not ask Redis for presence.
  let hmgets = 0
  const hmget = b.redis.hmget.bind(b.redis)
  b.redis.hmget = ((...args: Parameters<typeof hmget>) => {
    hmgets++
    return hmget(...args)
  }) as typeof b.redis.hmget

  const seenByA = changes(a.store)
  const seenByB = changes(b.store)
  const [accepted] = await a.store.apply([
    update(ALICE, '2030-01-01T10:00:00.000Z', { availability: 'dnd', status: 'Focus' }),
  ])
  const seen = await changeEvent(seenByB, accepted?.entry.version)
  t.same(seen, accepted?.entry, 'B’s change event carries A’s entry and version')
  t.same(b.store.cached(ALICE), accepted?.entry, 'B’s negative entry was replaced')
  t.same(await b.store.getMany([ALICE]), [accepted?.entry], 'served from B’s cache')
  t.equal(b.store.position, accepted?.entry.version, 'B followed the stream to its end')

  // A newer write through B reaches A.
  const [later] = await b.store.apply([
    update(ALICE, '2030-01-01T10:01:00.000Z', { availability: 'available' }),
  ])
  t.same(later?.previous, accepted?.entry)
  t.same(await changeEvent(seenByA, later?.entry.version), later?.entry)
  t.same(a.store.cached(ALICE), later?.entry, 'A is current without asking')

  // An update A drops (older) changes nothing in B.
  t.same(await a.store.apply([update(ALICE, '2030-01-01T09:00:00.000Z')]), [])
  t.same(b.store.cached(ALICE), later?.entry)
  await changeEvent(seenByB, later?.entry.version)
  t.same(
    seenByB.map((e) => e.version),
    [accepted?.entry.version, later?.entry.version],
    'B saw each accepted change once, in order, and nothing for the dropped one',
  )
  t.equal(hmgets, 0, 'B never asked Redis once it had the answer')

  // A third process, started now, reads the current value from Redis.
  const c = liveStore(t, prefix)
  await c.store.start()
  t.equal(c.store.position, later?.entry.version, 'starts from the stream’s end')
  t.same(await c.store.getMany([ALICE]), [later?.entry])
})

t.test('changesSince returns the entries after an id, in order', async (t) => {
  const prefix = testPrefix(t)
  const { store } = liveStore(t, prefix)
  t.same(
    await store.changesSince('0-0'),
    { entries: [], complete: true },
    'no stream yet: nothing, and nothing lost',
  )
  const written: LiveEntry[] = []
  for (let i = 0; i < 5; i++) {
    const [accepted] = await store.apply([
      update(`xmpp:u${i}@example.org`, `2030-01-01T10:00:0${i}.000Z`, {
        availability: i % 2 ? 'away' : 'busy',
        ...(i === 3 && { status: 'three', raw: 'xa' }),
      }),
    ])
    if (accepted) written.push(accepted.entry)
  }
  t.equal(written.length, 5)
  const from = written[1]?.version ?? ''
  const since = await store.changesSince(from)
  t.equal(since.complete, true)
  t.same(since.entries, written.slice(2), 'after the id (exclusive), oldest first')
  t.same((await store.changesSince('0-0')).entries, written, 'from the start')
  t.same(
    (await store.changesSince('0-0', 2)).entries,
    written.slice(0, 2),
    'at most `limit` entries',
  )
  t.same(await store.changesSince(written[4]?.version ?? ''), { entries: [], complete: true })
})

t.test('changesSince says complete=false once the stream was trimmed past the id', async (t) => {
  const prefix = testPrefix(t)
  const { store, redis } = liveStore(t, prefix, 100)
  const [first] = await store.apply([update(ALICE, '2030-01-01T00:00:00.000Z')])
  const firstId = first?.entry.version ?? ''
  t.same(await store.changesSince(firstId), { entries: [], complete: true }, 'nothing trimmed yet')

  // MAXLEN ~ trims whole radix-tree nodes (100 entries each): write thousands.
  const base = Date.parse('2030-01-01T00:00:00.000Z')
  for (let batch = 0; batch < 6; batch++) {
    await store.apply(
      Array.from({ length: 500 }, (_, i) =>
        update(
          `xmpp:u${batch * 500 + i}@example.org`,
          new Date(base + 1000 + batch * 500 + i).toISOString(),
        ),
      ),
    )
  }
  const length = await redis.xlen(store.streamKey)
  t.ok(length < 1000, `the stream was trimmed (${length} entries left of 3001)`)
  const [[oldest] = []] = (await redis.xrange(store.streamKey, '-', '+', 'COUNT', 1)) as [
    string,
    string[],
  ][]
  t.ok(compareVersions(oldest ?? '0-0', firstId) > 0, 'the first change is gone')

  const fromFirst = await store.changesSince(firstId)
  t.equal(fromFirst.complete, false, 'changes after the first id were lost')
  t.equal(fromFirst.entries.length, length, 'what is left is still returned')

  const fromZero = await store.changesSince('0-0')
  t.equal(fromZero.complete, false, 'from the start: changes were lost too')

  // From the oldest id still in the stream, nothing is missing.
  const fromOldest = await store.changesSince(oldest ?? '')
  t.equal(fromOldest.complete, true, 'nothing after the oldest remaining id was trimmed')
  t.equal(fromOldest.entries.length, length - 1)
})
