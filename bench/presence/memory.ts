/**
 * bench/presence part 3, run by run.ts in its own process with --expose-gc:
 * memory per tracked contact. One LivePresenceStore (core/presence/live-store.ts)
 * on its own Redis prefix takes
 * BENCH_CONTACTS (100,000) distinct presence updates through `apply` in
 * batches of 1000 (each batch JSON round-tripped, as BullMQ job data is),
 * then every address is read back through `getMany`. Measured before and
 * after (after global.gc()): Redis INFO used_memory, MEMORY USAGE of the
 * hash and the change stream (it keeps ~streamMaxLen entries), and the
 * process's heapUsed and RSS. Prints progress, then one line
 * `RESULT <json>`. Deletes its Redis prefix.
 *
 * The store is not started (no change-stream follower): in a host the
 * follower races `apply` to cache each entry, and the two build entries of
 * different sizes, so which one wins would make the figure vary by ~250 B
 * per contact from run to run. Every entry here is the one `apply` built.
 */
import type { FastifyBaseLogger } from 'fastify'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { resolveConfig } from '../../core/config/load-config.js'
import { LivePresenceStore, type LiveUpdate } from '../../core/presence/live-store.js'
import { deleteRedisPrefix, REDIS_URL } from '../../test/helpers/app.js'

export interface MemoryFigures {
  contacts: number
  streamMaxLen: number
  streamEntries: number
  redisUsedBytes: number
  redisKeyBytes: { hash: number; stream: number }
  heapBytes: number
  rssBytes: number
  perContact: { redis: number; redisKeys: number; process: number; total: number }
  applySeconds: number
}

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 100_000)
const BATCH = 1000
const prefix = process.env.BENCH_MEM_PREFIX ?? `bench-presence-mem-${process.pid}`
const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with --expose-gc')

const SHOWS: Array<[LiveUpdate['availability'], string]> = [
  ['available', 'available'],
  ['away', 'away'],
  ['dnd', 'dnd'],
  ['away', 'xa'],
  ['available', 'chat'],
]

/** Contact i as a network would report it: a third without a status text. */
function update(i: number, base: number): LiveUpdate {
  const [availability, raw] = SHOWS[i % SHOWS.length] as [LiveUpdate['availability'], string]
  return {
    address: `xmpp:contact${i}@example.org`,
    availability,
    raw,
    observedAt: new Date(base + i).toISOString(),
    source: 'xmpp:parley@example.org',
    ...(i % 3 !== 0 && { status: `In a meeting until ${(i % 12) + 1} pm` }),
  }
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory')
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN)
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc?.()
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function main(): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 })
  const { streamMaxLen } = resolveConfig({}).presence
  const store = new LivePresenceStore({ redisUrl: REDIS_URL, prefix, redis, streamMaxLen, log })
  try {
    await deleteRedisPrefix(prefix)
    await settle()
    const redisBefore = await usedMemory(redis)
    const before = process.memoryUsage()

    const base = Date.now()
    const applyStart = performance.now()
    for (let from = 0; from < CONTACTS; from += BATCH) {
      const batch: LiveUpdate[] = []
      for (let i = from; i < Math.min(CONTACTS, from + BATCH); i++) batch.push(update(i, base))
      const accepted = await store.apply(JSON.parse(JSON.stringify(batch)) as LiveUpdate[])
      if (accepted.length !== batch.length)
        throw new Error(`apply accepted ${accepted.length} of ${batch.length}`)
      if ((from / BATCH) % 25 === 24) console.log(`  memory: ${from + BATCH} contacts applied`)
    }
    const applySeconds = (performance.now() - applyStart) / 1000
    let found = 0
    for (let from = 0; from < CONTACTS; from += BATCH) {
      const addresses: string[] = []
      for (let i = from; i < Math.min(CONTACTS, from + BATCH); i++)
        addresses.push(`xmpp:contact${i}@example.org`)
      found += (await store.getMany(addresses)).filter((e) => e !== undefined).length
    }
    if (found !== CONTACTS) throw new Error(`getMany found ${found} of ${CONTACTS}`)
    await settle()
    const after = process.memoryUsage()
    const redisAfter = await usedMemory(redis)
    const hashBytes = Number(await redis.memory('USAGE', store.hashKey, 'SAMPLES', 0))
    const streamBytes = Number(await redis.memory('USAGE', store.streamKey, 'SAMPLES', 0))
    const streamEntries = await redis.xlen(store.streamKey)
    const redisUsed = redisAfter - redisBefore
    const heap = after.heapUsed - before.heapUsed
    const figures: MemoryFigures = {
      contacts: CONTACTS,
      streamMaxLen,
      streamEntries,
      redisUsedBytes: redisUsed,
      redisKeyBytes: { hash: hashBytes, stream: streamBytes },
      heapBytes: heap,
      rssBytes: after.rss - before.rss,
      perContact: {
        redis: Math.round(redisUsed / CONTACTS),
        redisKeys: Math.round((hashBytes + streamBytes) / CONTACTS),
        process: Math.round(heap / CONTACTS),
        total: Math.round((redisUsed + heap) / CONTACTS),
      },
      applySeconds: Math.round(applySeconds * 100) / 100,
    }
    console.log(`RESULT ${JSON.stringify(figures)}`)
  } finally {
    await store.close()
    await deleteRedisPrefix(prefix)
    redis.disconnect()
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`memory: ${(err as Error).message}`)
    process.exit(1)
  },
)
