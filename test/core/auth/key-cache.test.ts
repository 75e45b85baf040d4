import t from 'tap'
import { KeyCache } from '../../../core/auth/key-cache.js'
import type { VerifiedApiKey } from '../../../core/store/api-key-store.js'

/** A key store that counts its lookups; `valid` is what it would answer. */
function counting(valid: Map<string, VerifiedApiKey>) {
  const store = {
    calls: 0,
    async verify(key: string) {
      store.calls++
      return valid.get(key)
    },
  }
  return store
}

const reader: VerifiedApiKey = { id: 'k1', name: 'reader', scopes: ['presence:read'] }

t.test('a verified key is trusted for ttlMs, then asked again', async (t) => {
  let now = 1_000
  const keys = counting(new Map([['pk_a', reader]]))
  const cache = new KeyCache({ keys, ttlMs: 5_000, now: () => now })
  t.same(await cache.verify('pk_a'), reader)
  t.same(await cache.verify('pk_a'), reader)
  t.equal(keys.calls, 1, 'the second request cost no lookup')
  now += 5_000
  t.same(await cache.verify('pk_a'), reader)
  t.equal(keys.calls, 2, 'expired: asked again')
})

t.test('failures are not cached: a key created elsewhere works at once', async (t) => {
  const valid = new Map<string, VerifiedApiKey>()
  const keys = counting(valid)
  const cache = new KeyCache({ keys, ttlMs: 60_000 })
  t.equal(await cache.verify('pk_new'), undefined)
  valid.set('pk_new', reader)
  t.same(await cache.verify('pk_new'), reader)
})

t.test('forget drops a revoked key at once', async (t) => {
  const valid = new Map([['pk_a', reader]])
  const keys = counting(valid)
  const cache = new KeyCache({ keys, ttlMs: 60_000 })
  await cache.verify('pk_a')
  valid.delete('pk_a')
  cache.forget('k1')
  t.equal(await cache.verify('pk_a'), undefined)
})

t.test('ttlMs 0 asks every time; the cache holds at most maxEntries', async (t) => {
  const keys = counting(new Map([['pk_a', reader]]))
  const uncached = new KeyCache({ keys, ttlMs: 0 })
  await uncached.verify('pk_a')
  await uncached.verify('pk_a')
  t.equal(keys.calls, 2)

  const many = new Map(
    Array.from({ length: 3 }, (_, i) => [`pk_${i}`, { ...reader, id: `k${i}` }] as const),
  )
  const small = counting(many)
  const cache = new KeyCache({ keys: small, ttlMs: 60_000, maxEntries: 2 })
  for (const key of ['pk_0', 'pk_1', 'pk_2']) await cache.verify(key)
  await cache.verify('pk_2')
  t.equal(small.calls, 3, 'the newest stays')
  await cache.verify('pk_0')
  t.equal(small.calls, 4, 'the oldest went')
})
