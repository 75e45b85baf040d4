import type { Redis } from 'ioredis'

/**
 * Rate-limit counters in Redis, shared by every host process, without a
 * Redis round trip on every request. Its `incr` has the store interface of
 * `@fastify/rate-limit` (whose plugin first used it); the auth hook calls it
 * now (rate-limit.ts).
 *
 * That plugin's own Redis store runs a script per request; on the presence
 * read path (bench/presence) that round trip cost more than the read itself.
 * Here each counter is a Redis key holding the window's count (INCRBY, with
 * the window as its expiry, set by the first increment, as the plugin's
 * store does). A process answers from its own view (the count Redis last
 * returned plus what it counted since) and sends what it counted every
 * `syncMs`, in one pipeline. Near the limit it asks Redis at once, so the
 * 429 boundary is exact: a request goes to Redis when the local view is
 * within `headroom` of the limit, or when the key is new to this process.
 *
 * Far from the limit, a key's count can run behind by what the other
 * processes counted in their last `syncMs`; that is the price of not
 * asking Redis each time, and it cannot carry a key past the limit by more
 * than the other processes' traffic in one interval, within `headroom`.
 * Redis unavailable: the error goes to the caller (rate-limit.ts lets the
 * request pass), and counts not sent are kept for the next try.
 */

const SCRIPT = `
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return { count, ttl }
`

interface Counter {
  /** The count Redis last returned. */
  global: number
  /** Counted here since, not yet sent. */
  pending: number
  /** When the window ends (local clock). */
  until: number
  window: number
}

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void

interface CountingRedis extends Redis {
  parleyRateCount(key: string, by: number, windowMs: number): Promise<[number, number]>
}

export interface SharedCounterOptions {
  redis: Redis
  /** Key prefix, e.g. `<redis prefix>:rate-limit:`. */
  namespace: string
  /** How often local counts are sent. @defaultValue 100 */
  syncMs?: number
  /** Within this fraction of the limit, every request asks Redis. @defaultValue 0.1 */
  headroom?: number
}

export function sharedCounterStore(options: SharedCounterOptions) {
  const redis = options.redis as CountingRedis
  if (!redis.parleyRateCount) {
    redis.defineCommand('parleyRateCount', { numberOfKeys: 1, lua: SCRIPT })
  }
  const syncMs = options.syncMs ?? 100
  const headroom = options.headroom ?? 0.1
  const counters = new Map<string, Counter>()
  let timer: NodeJS.Timeout | undefined

  const send = async (key: string, by: number, windowMs: number) => {
    const [count, ttl] = await redis.parleyRateCount(`${options.namespace}${key}`, by, windowMs)
    const now = Date.now()
    const current = counters.get(key)
    const entry = current ?? { global: 0, pending: 0, until: 0, window: windowMs }
    // A newer answer may have landed meanwhile: counts only grow within a window.
    entry.global = Math.max(entry.global, Number(count))
    entry.until = now + Number(ttl)
    entry.window = windowMs
    if (!current) counters.set(key, entry)
    return Number(count)
  }

  const flush = () => {
    timer = undefined
    const now = Date.now()
    for (const [key, counter] of counters) {
      if (counter.until <= now) {
        counters.delete(key)
        continue
      }
      if (counter.pending === 0) continue
      const by = counter.pending
      counter.pending = 0
      send(key, by, counter.window).catch(() => {
        // Kept for the next try; the caller hears of Redis trouble on the exact path.
        counter.pending += by
        schedule()
      })
    }
  }

  const schedule = () => {
    if (timer) return
    timer = setTimeout(flush, syncMs)
    timer.unref()
  }

  return class SharedCounterStore {
    incr(key: string, callback: Callback, timeWindow: number, max: number): void {
      const now = Date.now()
      let counter = counters.get(key)
      if (counter && counter.until <= now) {
        counters.delete(key)
        counter = undefined
      }
      if (counter) {
        const view = counter.global + counter.pending + 1
        if (view <= max - Math.max(1, Math.ceil(max * headroom))) {
          counter.pending++
          schedule()
          callback(null, { current: view, ttl: counter.until - now })
          return
        }
      }
      // New here, or near the limit: ask Redis now, with what this process counted so far.
      const by = (counter?.pending ?? 0) + 1
      if (counter) counter.pending = 0
      send(key, by, timeWindow).then(
        (current) => {
          const until = counters.get(key)?.until ?? now + timeWindow
          callback(null, { current, ttl: Math.max(0, until - Date.now()) })
        },
        (error: Error) => {
          if (counter) counter.pending += by - 1
          callback(error)
        },
      )
    }

    /** One budget per key across every route (the plugin asks for one per route). */
    child(): this {
      return this
    }
  }
}
