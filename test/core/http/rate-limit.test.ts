import { Redis } from 'ioredis'
import t from 'tap'
import { buildApp } from '../../../core/app.js'
import { REDIS_URL, ROOT, testConfig, withAdminKey } from '../../helpers/app.js'

const limits = { max: 3, unauthenticatedMax: 2, timeWindowMs: 60_000 }

/** Two hosts on one database and one Redis prefix, as two processes of one deployment. */
async function twoHosts(t: Parameters<typeof testConfig>[0]) {
  const config = testConfig(t, { security: { rateLimit: limits } })
  const a = withAdminKey(await buildApp(config, { rootDir: ROOT }))
  t.teardown(() => a.close())
  const b = withAdminKey(await buildApp(config, { rootDir: ROOT }))
  t.teardown(() => b.close())
  return { a, b, config }
}

t.test('one key has one budget across hosts; past it, 429 with Retry-After', async (t) => {
  const { a, b } = await twoHosts(t)
  const statuses = []
  for (const host of [a, b, a])
    statuses.push((await host.inject({ url: '/v1/networks' })).statusCode)
  t.same(statuses, [200, 200, 200])
  const ok = await a.inject({ url: '/v1/networks' })
  t.equal(ok.statusCode, 429, 'the fourth request, on either host, is over the limit')
  const res = await b.inject({ url: '/v1/networks' })
  t.equal(res.statusCode, 429)
  t.equal(res.json().code, 'PARLEY_ERR_RATE_LIMITED')
  t.equal(res.json().error, 'Too Many Requests')
  t.match(res.json().message, /3 requests per 60000 ms; retry in/)
  const retryAfter = Number(res.headers['retry-after'])
  t.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After: ${retryAfter}`)
  t.equal(res.headers['x-ratelimit-limit'], '3')
  t.equal(res.headers['x-ratelimit-remaining'], '0')

  // Another key has its own budget.
  const other = await a.store.apiKeys.create({ scopes: ['presence:read'] })
  const fresh = await b.inject({
    url: '/v1/networks',
    headers: { authorization: `Bearer ${other.key}` },
  })
  t.equal(fresh.statusCode, 200)
  t.equal(fresh.headers['x-ratelimit-remaining'], '2')
})

t.test('requests without a usable key are limited per client IP', async (t) => {
  const { a, b } = await twoHosts(t)
  const none = { authorization: undefined }
  t.equal((await a.inject({ url: '/v1/networks', headers: none })).statusCode, 401)
  t.equal(
    (await b.inject({ url: '/v1/networks', headers: { authorization: 'Bearer nope' } })).statusCode,
    401,
  )
  const limited = await a.inject({ url: '/v1/networks', headers: none })
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().code, 'PARLEY_ERR_RATE_LIMITED')
  t.ok(Number(limited.headers['retry-after']) > 0)
  // The IP's budget is not the key's: a keyed request still passes.
  t.equal((await a.inject({ url: '/v1/networks' })).statusCode, 200)
})

t.test('the counters live under the Redis prefix, and expire', async (t) => {
  const { a, config } = await twoHosts(t)
  await a.inject({ url: '/v1/networks' })
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.disconnect())
  const keys = await redis.keys(`${config.redis.prefix}:rate-limit:*`)
  t.equal(keys.length, 1)
  t.match(keys[0], /:rate-limit:key:[0-9a-f-]{36}$/)
  const ttl = await redis.pttl(keys[0] as string)
  t.ok(ttl > 0 && ttl <= 60_000, `expires in ${ttl} ms`)
})

t.test('the defaults leave room for a busy client', async (t) => {
  const config = testConfig(t)
  t.same(config.security.rateLimit, { max: 6000, unauthenticatedMax: 600, timeWindowMs: 60000 })
})
