import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { sharedCounterStore } from '../../../core/http/rate-limit-store.js'
import { deleteRedisPrefix, REDIS_URL } from '../../helpers/app.js'

/**
 * The shared rate-limit counters (core/http/rate-limit-store.ts): far from
 * the limit a request costs no Redis round trip, counts reach Redis within
 * one sync interval, and near the limit every request asks Redis, so two
 * processes sharing a key stop at exactly the limit.
 */
async function setup(t: Test) {
  const namespace = `prl-${randomUUID().slice(0, 8)}:rate-limit:`
  const redis = new Redis(REDIS_URL)
  t.teardown(async () => {
    await deleteRedisPrefix(namespace.slice(0, -'rate-limit:'.length - 1))
    redis.disconnect()
  })
  let calls = 0
  const counting = new Proxy(redis, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver)
      if (name === 'parleyRateCount' && typeof value === 'function') {
        return (...args: unknown[]) => {
          calls++
          return (value as (...a: unknown[]) => unknown).apply(target, args)
        }
      }
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  const Store = sharedCounterStore({ redis: counting, namespace, syncMs: 50 })
  const incr = (store: InstanceType<typeof Store>, key: string, max: number) =>
    new Promise<{ current: number; ttl: number }>((resolve, reject) =>
      store.incr(
        key,
        (error, result) => (error || !result ? reject(error) : resolve(result)),
        60_000,
        max,
      ),
    )
  return { redis, namespace, Store, incr, calls: () => calls }
}

t.test('far from the limit: one Redis call for a new key, then none per request', async (t) => {
  const { Store, incr, calls, redis, namespace } = await setup(t)
  const store = new Store()
  const first = await incr(store, 'key:a', 1000)
  t.equal(first.current, 1)
  t.ok(first.ttl > 59_000 && first.ttl <= 60_000, `ttl ${first.ttl}`)
  t.equal(calls(), 1)
  for (let i = 2; i <= 100; i++) t.equal((await incr(store, 'key:a', 1000)).current, i)
  t.equal(calls(), 1, '99 more requests, no Redis call')
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(await redis.get(`${namespace}key:a`), '100', 'sent within one sync interval')
  t.ok((await redis.pttl(`${namespace}key:a`)) > 0, 'and the key expires')
})

t.test('two processes on one key stop at exactly the limit', async (t) => {
  const { Store, incr } = await setup(t)
  const a = new Store()
  const b = new Store()
  const max = 50
  const counts: number[] = []
  for (let i = 0; i < 60; i++) counts.push((await incr(i % 2 ? a : b, 'key:shared', max)).current)
  const allowed = counts.filter((c) => c <= max).length
  t.equal(allowed, max, `${allowed} of 60 allowed, the limit is ${max}`)
  t.equal(Math.max(...counts), 60)
})

t.test('Redis unavailable: the error goes to the plugin', async (t) => {
  const down = new Redis('redis://127.0.0.1:1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  })
  t.teardown(() => down.disconnect())
  const Store = sharedCounterStore({ redis: down, namespace: 'nowhere:' })
  const store = new Store()
  const error = await new Promise((resolve) => store.incr('k', (e) => resolve(e), 1000, 10))
  t.ok(error instanceof Error, String(error))
  t.equal(store.child(), store, 'one budget across routes')
})
