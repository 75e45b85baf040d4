import t, { type Test } from 'tap'
import type { LastKnown } from '../../core/store/presence-store.js'
import type { Store } from '../../core/store/store.js'
import { eachBackend, testStore } from './fixtures/backends.js'

const ECHO = 'xmpp:echo@example.org'

function row(address: string, overrides: Partial<LastKnown> = {}): LastKnown {
  return {
    address,
    availability: 'available',
    observedAt: '2030-01-02T03:04:05.000Z',
    source: ECHO,
    ...overrides,
  }
}

/** The presence table, schema-qualified and quoted for raw SQL on either backend. */
function table(store: Store): string {
  const { dataSource } = store
  return dataSource
    .getMetadata('PresenceRecord')
    .tablePath.split('.')
    .map((p) => dataSource.driver.escape(p))
    .join('.')
}

async function countRows(store: Store): Promise<number> {
  const [row] = await store.dataSource.query(`SELECT COUNT(*) AS n FROM ${table(store)}`)
  return Number(row.n)
}

eachBackend(t, 'saveMany stores rows that getMany returns', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const alice = row('xmpp:alice@example.org', {
    availability: 'away',
    status: 'In a meeting',
    raw: 'xa',
  })
  const bob = row('sip:bob@corp.example', { availability: 'busy' })
  await store.presence.saveMany([alice, bob])
  const found = await store.presence.getMany([alice.address, bob.address])
  t.equal(found.size, 2)
  t.same(found.get(alice.address), alice)
  t.same(found.get(bob.address), bob)
})

eachBackend(
  t,
  'a second save of the same address overwrites every column',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const address = 'xmpp:alice@example.org'
    await store.presence.saveMany([
      row(address, { availability: 'dnd', status: 'Do not disturb', raw: 'dnd' }),
    ])
    const newer = row(address, {
      availability: 'offline',
      status: 'Gone home',
      raw: 'unavailable',
      source: 'xmpp:other@example.org',
      observedAt: '2030-01-02T04:00:00.000Z',
    })
    await store.presence.saveMany([newer])
    t.same((await store.presence.getMany([address])).get(address), newer)

    // Saving without status/raw clears them (the row is what Redis accepted).
    const plain = row(address, { observedAt: '2030-01-02T05:00:00.000Z' })
    await store.presence.saveMany([plain])
    const stored = (await store.presence.getMany([address])).get(address)
    t.strictSame(stored, plain, 'status and raw gone, not kept from the previous row')
    t.equal(await countRows(store), 1, 'still one row')
  },
)

eachBackend(t, 'status and raw null round-trip as absent properties', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const address = 'xmpp:alice@example.org'
  await store.presence.saveMany([row(address)])
  const stored = (await store.presence.getMany([address])).get(address)
  t.ok(stored)
  t.notOk(stored && 'status' in stored, 'no status key')
  t.notOk(stored && 'raw' in stored, 'no raw key')
  t.strictSame(stored, row(address))
  const [raw] = await store.dataSource.query(
    `SELECT status, raw FROM ${table(store)} WHERE address = ${backend === 'sqlite' ? '?' : '$1'}`,
    [address],
  )
  t.same(raw, { status: null, raw: null }, 'stored as NULL')

  // An empty string is a value, not an absence.
  await store.presence.saveMany([
    row(address, { status: '', raw: 'chat', observedAt: '2030-01-02T03:04:06.000Z' }),
  ])
  const empty = (await store.presence.getMany([address])).get(address)
  t.equal(empty?.status, '', 'empty status kept')
  t.equal(empty?.raw, 'chat')
})

eachBackend(
  t,
  'getMany with more than 500 addresses returns exactly the stored ones',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const total = 1234
    const addresses = Array.from({ length: total }, (_, i) => `xmpp:u${i}@example.org`)
    // Store every third address, spread over every chunk (saveMany chunks too).
    const stored = addresses
      .filter((_, i) => i % 3 === 0)
      .map((a, i) =>
        row(a, {
          availability: (['available', 'away', 'busy', 'dnd', 'offline'] as const)[i % 5],
          ...(i % 2 === 0 && { status: `status ${i}` }),
        }),
      )
    t.ok(stored.length > 400, 'over 400 rows saved in one call')
    await store.presence.saveMany(stored)

    const found = await store.presence.getMany(addresses)
    t.type(found, Map)
    t.equal(found.size, stored.length)
    t.same(
      stored.map((r) => found.get(r.address)),
      stored,
      'every stored row, with its own values',
    )
    t.same(
      [...found.keys()].sort(),
      stored.map((r) => r.address).sort(),
      'no unknown address in the map',
    )

    // The last chunk alone (addresses 1000..1233) finds its rows too.
    const tail = addresses.slice(1000)
    const tailFound = await store.presence.getMany(tail)
    t.equal(tailFound.size, tail.filter((_, i) => (i + 1000) % 3 === 0).length)

    const none = await store.presence.getMany(['xmpp:nobody@example.org'])
    t.equal(none.size, 0)
  },
)

eachBackend(t, 'saveMany of 1200 rows stores all of them', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const rows = Array.from({ length: 1200 }, (_, i) =>
    row(`xmpp:n${i}@example.org`, { status: `s${i}` }),
  )
  await store.presence.saveMany(rows)
  t.equal(await countRows(store), 1200)
  const found = await store.presence.getMany(rows.map((r) => r.address))
  t.equal(found.size, 1200)
  t.same(found.get('xmpp:n1199@example.org'), rows[1199])
})

eachBackend(t, 'empty input is a no-op', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  await t.resolves(store.presence.saveMany([]))
  const found = await store.presence.getMany([])
  t.type(found, Map)
  t.equal(found.size, 0)
  t.equal(await countRows(store), 0)
})

eachBackend(t, 'an unknown availability is refused by the database', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  await t.rejects(
    store.presence.saveMany([
      row('xmpp:alice@example.org', { availability: 'unknown' as 'available' }),
    ]),
  )
  t.equal((await store.presence.getMany(['xmpp:alice@example.org'])).size, 0, 'nothing stored')
})
