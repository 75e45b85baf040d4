import { randomUUID } from 'node:crypto'
import { setTimeout } from 'node:timers/promises'
import t, { type Test } from 'tap'
import {
  formatKey,
  generateKey,
  hashSecret,
  parseKey,
  SCOPES,
  secretMatches,
} from '../../core/auth/keys.js'
import { BOOTSTRAP_KEY_ID } from '../../core/store/api-key-store.js'
import { openStore, type Store } from '../../core/store/store.js'
import { eachBackend, PG_TEST_URL, testStore } from './fixtures/backends.js'

/** The api_keys table, schema-qualified and quoted for raw SQL on either backend. */
function table(store: Store): string {
  const { dataSource } = store
  return dataSource
    .getMetadata('ApiKey')
    .tablePath.split('.')
    .map((p) => dataSource.driver.escape(p))
    .join('.')
}

async function rawRows(store: Store): Promise<Record<string, unknown>[]> {
  return store.dataSource.query(`SELECT * FROM ${table(store)}`)
}

async function setLastUsed(store: Store, id: string, value: string): Promise<void> {
  await store.dataSource
    .createQueryBuilder()
    .update('ApiKey')
    .set({ lastUsedAt: value })
    .where('id = :id', { id })
    .execute()
}

t.test('keys have the documented format and parse by position', async (t) => {
  t.same(SCOPES, ['presence:read', 'messages:send', 'contacts:write', 'metrics:read', 'admin'])
  for (let i = 0; i < 50; i++) {
    const { key, prefix, secret } = generateKey()
    t.match(key, /^pk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/)
    t.same(parseKey(key), { prefix, secret })
  }
  const secretWithUnderscores = `_a_${'b'.repeat(40)}`
  t.same(parseKey(formatKey('0123abcd', secretWithUnderscores)), {
    prefix: '0123abcd',
    secret: secretWithUnderscores,
  })
  for (const bad of [
    '',
    'pk_',
    'pk_0123abcd',
    `pk_0123abcd_${'a'.repeat(42)}`,
    `pk_0123abcd_${'a'.repeat(44)}`,
    `pk_0123ABCD_${'a'.repeat(43)}`,
    `sk_0123abcd_${'a'.repeat(43)}`,
    `pk_0123abcd_${'a'.repeat(42)}=`,
    ` pk_0123abcd_${'a'.repeat(43)}`,
    undefined,
    42,
  ]) {
    t.equal(parseKey(bad), undefined, JSON.stringify(bad))
  }
})

t.test('hashSecret is hex SHA-256 and secretMatches compares it', async (t) => {
  t.equal(
    hashSecret('abc'),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    'the SHA-256 test vector',
  )
  t.ok(secretMatches('abc', hashSecret('abc')))
  t.notOk(secretMatches('abd', hashSecret('abc')))
  t.notOk(secretMatches('abc', 'not hex'), 'a corrupt stored hash never matches')
  t.notOk(secretMatches('abc', ''))
})

eachBackend(t, 'create returns the key once and stores only its hash', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const created = await store.apiKeys.create({
    name: 'ci',
    scopes: ['messages:send', 'presence:read', 'messages:send'],
  })
  t.match(created, {
    id: /^[0-9a-f-]{36}$/,
    key: /^pk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/,
    name: 'ci',
    createdAt: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
  })
  t.same(created.scopes, ['presence:read', 'messages:send'], 'deduplicated, in SCOPES order')

  const parsed = parseKey(created.key)
  const rows = await rawRows(store)
  t.equal(rows.length, 1)
  const row = rows[0] as Record<string, unknown>
  t.equal(row.prefix, parsed?.prefix)
  t.equal(row.hash, hashSecret(parsed?.secret ?? ''))
  t.equal(row.scopes, 'presence:read,messages:send')
  t.notOk(
    Object.values(row).some((v) => typeof v === 'string' && v.includes(parsed?.secret ?? '')),
    'the secret is in no column',
  )

  const unnamed = await store.apiKeys.create({ scopes: ['admin'] })
  t.equal(unnamed.name, `key ${parseKey(unnamed.key)?.prefix}`)
  t.not(unnamed.key, created.key)
})

eachBackend(t, 'create validates name and scopes', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const invalid = { code: 'PARLEY_ERR_VALIDATION' }
  await t.rejects(store.apiKeys.create({ scopes: ['presence:read', 'root'] }), {
    ...invalid,
    message: /unknown scope 'root'/,
  })
  await t.rejects(store.apiKeys.create({ scopes: [] }), invalid)
  await t.rejects(store.apiKeys.create({ scopes: 'admin' as unknown as string[] }), invalid)
  await t.rejects(store.apiKeys.create({ name: 'x'.repeat(129), scopes: ['admin'] }), invalid)
  await t.rejects(store.apiKeys.create({ name: '', scopes: ['admin'] }), invalid)
  t.same(await store.apiKeys.list(), [], 'nothing stored')
})

eachBackend(t, 'verify accepts the key and nothing else', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const a = await store.apiKeys.create({ name: 'a', scopes: ['contacts:write'] })
  const b = await store.apiKeys.create({ name: 'b', scopes: ['admin', 'presence:read'] })
  t.same(await store.apiKeys.verify(a.key), { id: a.id, name: 'a', scopes: ['contacts:write'] })
  t.same(await store.apiKeys.verify(b.key), {
    id: b.id,
    name: 'b',
    scopes: ['presence:read', 'admin'],
  })

  const pa = parseKey(a.key)
  const pb = parseKey(b.key)
  if (!pa || !pb) throw new Error('unparseable key')
  const flipped = pa.secret.at(-1) === 'A' ? 'B' : 'A'
  for (const wrong of [
    formatKey(pa.prefix, pa.secret.slice(0, -1) + flipped),
    formatKey(pa.prefix, pb.secret),
    formatKey(pb.prefix, pa.secret),
    formatKey('00000000', pa.secret),
    a.key.slice(0, -1),
    `${a.key} `,
    '',
  ]) {
    t.equal(await store.apiKeys.verify(wrong), undefined, wrong)
  }
  t.equal(await store.apiKeys.verify(undefined as unknown as string), undefined)
})

eachBackend(t, 'verify updates last_used_at at most once a minute', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const { id, key } = await store.apiKeys.create({ scopes: ['presence:read'] })
  const lastUsed = async () => (await store.apiKeys.list())[0]?.lastUsedAt
  t.equal(await lastUsed(), null, 'never used')

  const before = Date.now()
  await store.apiKeys.verify(key)
  const first = await lastUsed()
  t.ok(first && Date.parse(first) >= before - 1, 'set on first use')

  await setLastUsed(store, id, '2030-01-01T00:00:00.000Z')
  const recent = new Date(Date.now() - 30_000).toISOString()
  await setLastUsed(store, id, recent)
  await store.apiKeys.verify(key)
  t.equal(await lastUsed(), recent, 'not rewritten within a minute')

  const old = new Date(Date.now() - 61_000).toISOString()
  await setLastUsed(store, id, old)
  await store.apiKeys.verify(key)
  const refreshed = await lastUsed()
  t.ok(refreshed && refreshed > old, 'rewritten after a minute')

  await store.apiKeys.verify(`${key.slice(0, -1)}${key.at(-1) === 'A' ? 'B' : 'A'}`)
  t.equal(await lastUsed(), refreshed, 'a wrong secret does not count as a use')
})

eachBackend(
  t,
  'list shows every key without hashes, revoke ends a key',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const a = await store.apiKeys.create({ name: 'a', scopes: ['admin'] })
    // created_at has millisecond resolution (ties go by id): make the order certain.
    await setTimeout(5)
    const b = await store.apiKeys.create({ name: 'b', scopes: ['messages:send'] })

    const listed = await store.apiKeys.list()
    t.same(
      listed.map((k) => k.id),
      [a.id, b.id],
      'oldest first',
    )
    t.same(listed[0], {
      id: a.id,
      name: 'a',
      prefix: parseKey(a.key)?.prefix,
      scopes: ['admin'],
      createdAt: a.createdAt,
      lastUsedAt: null,
      revokedAt: null,
    })
    t.notOk(
      JSON.stringify(listed).includes(hashSecret(parseKey(a.key)?.secret ?? '')),
      'no hash listed',
    )

    t.equal(await store.apiKeys.revoke(a.id), true)
    t.equal(await store.apiKeys.verify(a.key), undefined, 'a revoked key fails')
    t.ok(await store.apiKeys.verify(b.key), 'other keys unaffected')
    const revokedAt = (await store.apiKeys.list())[0]?.revokedAt
    t.match(revokedAt, /^\d{4}-.*Z$/)

    t.equal(await store.apiKeys.revoke(a.id), false, 'already revoked')
    t.equal((await store.apiKeys.list())[0]?.revokedAt, revokedAt, 'revocation time kept')
    t.equal(await store.apiKeys.revoke(randomUUID()), false, 'unknown id')
    await t.rejects(store.apiKeys.revoke('nope'), { code: 'PARLEY_ERR_VALIDATION' })
  },
)

eachBackend(t, 'adopt stores a key made elsewhere, once', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const { key, prefix } = generateKey()
  const input = { name: 'configured admin key', scopes: ['admin'] }
  t.equal(await store.apiKeys.adopt(key, input), 'stored')
  t.equal(await store.apiKeys.adopt(key, input), 'known')
  t.match(await store.apiKeys.verify(key), { name: 'configured admin key', scopes: ['admin'] })
  const [row] = await rawRows(store)
  t.notOk(JSON.stringify(row).includes(key.slice(12)), 'only the hash is stored')
  t.match(await store.apiKeys.list(), [{ prefix }])

  const id = (await store.apiKeys.list())[0]?.id as string
  await store.apiKeys.revoke(id)
  t.equal(await store.apiKeys.adopt(key, input), 'revoked', 'a revoked key stays revoked')
  t.equal(await store.apiKeys.verify(key), undefined)

  const sameprefix = formatKey(prefix, generateKey().secret)
  await t.rejects(store.apiKeys.adopt(sameprefix, input), {
    code: 'PARLEY_ERR_VALIDATION',
    message: /another key already has the prefix/,
  })
  await t.rejects(store.apiKeys.adopt('pk_nope', input), { code: 'PARLEY_ERR_VALIDATION' })
  await t.rejects(store.apiKeys.adopt(generateKey().key, { scopes: ['root'] }), {
    code: 'PARLEY_ERR_VALIDATION',
  })
})

eachBackend(t, 'hosts adopting the same key at once store it once', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const { key } = generateKey()
  const results = await Promise.all(
    Array.from({ length: 5 }, () => store.apiKeys.adopt(key, { scopes: ['admin'] })),
  )
  t.equal(results.filter((r) => r === 'stored').length, 1)
  t.equal((await store.apiKeys.list()).length, 1)
})

eachBackend(t, 'bootstrapAdmin makes an admin key only when none is active', async (t, backend) => {
  const store = await testStore(t, backend)
  const first = await store.apiKeys.bootstrapAdmin()
  t.match(first, {
    id: BOOTSTRAP_KEY_ID,
    key: /^pk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/,
    name: 'bootstrap admin key',
    scopes: ['admin'],
  })
  t.match(await store.apiKeys.verify(first?.key as string), { scopes: ['admin'] })
  t.equal(await store.apiKeys.bootstrapAdmin(), undefined, 'not while it is active')

  // The operator makes their own admin key and revokes the bootstrap one: still none made.
  const own = await store.apiKeys.create({ scopes: ['admin', 'presence:read'] })
  await store.apiKeys.revoke(BOOTSTRAP_KEY_ID)
  t.equal(await store.apiKeys.bootstrapAdmin(), undefined, 'another admin key is active')

  // Every admin key revoked (locked out): the next start makes a new one.
  await store.apiKeys.revoke(own.id)
  await store.apiKeys.create({ scopes: ['presence:read'] })
  const second = await store.apiKeys.bootstrapAdmin()
  t.equal(second?.id, BOOTSTRAP_KEY_ID)
  t.not(second?.key, first?.key)
  const bootstraps = (await store.apiKeys.list()).filter((k) => k.name === 'bootstrap admin key')
  t.equal(bootstraps.length, 2, 'the revoked one keeps its record, under a new id')
  t.equal(bootstraps.filter((k) => k.revokedAt === null).length, 1)
})

eachBackend(t, 'concurrent first starts make one bootstrap key', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  // A second connection to the same database, as a second host process would have.
  const other = await openStore(
    backend === 'sqlite'
      ? { sqlitePath: store.dataSource.options.database as string }
      : {
          url: PG_TEST_URL,
          schema: (store.dataSource.options as { schema?: string }).schema as string,
        },
  )
  t.teardown(() => other.close())
  const results = await Promise.all([
    store.apiKeys.bootstrapAdmin(),
    other.apiKeys.bootstrapAdmin(),
    store.apiKeys.bootstrapAdmin(),
    other.apiKeys.bootstrapAdmin(),
  ])
  t.equal(results.filter(Boolean).length, 1, 'exactly one host got a key')
  const active = (await store.apiKeys.list()).filter((k) => k.revokedAt === null)
  t.equal(active.length, 1)
})
