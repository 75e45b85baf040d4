import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import type { ContactInput } from '../../core/store/contact-store.js'
import type { Store } from '../../core/store/store.js'
import { eachBackend, testStore } from './fixtures/backends.js'

const ECHO = 'xmpp:echo@example.org'
const OTHER = 'xmpp:other@example.org'

/** The identity's contacts as `[address, subscription, displayName]`, ordered by address. */
async function roster(store: Store, identity = ECHO) {
  return (await store.contacts.list(identity)).map((c) => [
    c.address,
    c.subscription,
    c.displayName,
  ])
}

eachBackend(t, 'getById finds a contact, and not an unknown id', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const alice = await store.contacts.upsert({
    identity: ECHO,
    address: 'xmpp:alice@example.org',
    subscription: 'both',
    displayName: 'Alice',
  })
  const bob = await store.contacts.upsert({
    identity: ECHO,
    address: 'xmpp:bob@example.org',
    subscription: 'pending-in',
  })
  t.same(await store.contacts.getById(alice.id), alice)
  t.same(await store.contacts.getById(bob.id), bob)
  t.equal(await store.contacts.getById(randomUUID()), undefined, 'unknown uuid')
})

eachBackend(t, 'getById rejects an id that is not a UUID', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  // Like every store method (upsert rejects its bad input), a promise: no synchronous throw.
  let result: Promise<unknown> | undefined
  t.doesNotThrow(() => {
    result = store.contacts.getById('not-a-uuid')
  }, 'returns a promise instead of throwing')
  if (result) await t.rejects(result, { code: 'PARLEY_ERR_VALIDATION' })
})

eachBackend(
  t,
  'watchersOf lists every identity’s contact with an address',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const alice = 'xmpp:alice@example.org'
    await store.contacts.upsert({ identity: OTHER, address: alice, subscription: 'pending-out' })
    await store.contacts.upsert({ identity: ECHO, address: alice, subscription: 'both' })
    await store.contacts.upsert({
      identity: ECHO,
      address: 'xmpp:bob@example.org',
      subscription: 'both',
    })
    const watchers = await store.contacts.watchersOf(alice)
    t.same(
      watchers.map((c) => [c.identity, c.address, c.subscription]),
      [
        [ECHO, alice, 'both'],
        [OTHER, alice, 'pending-out'],
      ],
      'both identities, ordered by identity',
    )
    t.same(watchers[0], await store.contacts.get(ECHO, alice), 'whole rows')
    t.same(
      (await store.contacts.watchersOf('xmpp:bob@example.org')).map((c) => c.identity),
      [ECHO],
    )
    t.same(await store.contacts.watchersOf('xmpp:nobody@example.org'), [])
  },
)

eachBackend(t, 'remove deletes one contact: true, then false', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const alice = 'xmpp:alice@example.org'
  await store.contacts.upsert({ identity: ECHO, address: alice, subscription: 'both' })
  await store.contacts.upsert({ identity: OTHER, address: alice, subscription: 'both' })
  t.equal(await store.contacts.remove(ECHO, alice), true, 'there was one')
  t.equal(await store.contacts.get(ECHO, alice), undefined)
  t.equal(await store.contacts.remove(ECHO, alice), false, 'already gone')
  t.equal(await store.contacts.remove(ECHO, 'xmpp:nobody@example.org'), false)
  t.ok(await store.contacts.get(OTHER, alice), 'the other identity’s contact is untouched')
})

eachBackend(
  t,
  'syncRoster upserts entries, deletes missing ones, keeps pending-in and refused',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const kept = await store.contacts.upsert({
      identity: ECHO,
      address: 'xmpp:alice@example.org',
      subscription: 'pending-out',
      displayName: 'Alice',
    })
    for (const [address, subscription] of [
      ['xmpp:gone-both@example.org', 'both'],
      ['xmpp:gone-none@example.org', 'none'],
      ['xmpp:gone-out@example.org', 'pending-out'],
      ['xmpp:asking@example.org', 'pending-in'],
      ['xmpp:refused@example.org', 'refused'],
    ] as const) {
      await store.contacts.upsert({ identity: ECHO, address, subscription })
    }
    // Another identity's contacts are outside this roster.
    await store.contacts.upsert({
      identity: OTHER,
      address: 'xmpp:gone-both@example.org',
      subscription: 'both',
    })

    await store.contacts.syncRoster(ECHO, [
      { identity: ECHO, address: 'xmpp:alice@example.org', subscription: 'both' },
      {
        identity: ECHO,
        address: 'xmpp:new@example.org',
        subscription: 'pending-out',
        displayName: 'Newcomer',
      },
    ])

    t.same(
      (await roster(store)).map(([address, subscription]) => [address, subscription]),
      [
        ['xmpp:alice@example.org', 'both'],
        ['xmpp:asking@example.org', 'pending-in'],
        ['xmpp:new@example.org', 'pending-out'],
        ['xmpp:refused@example.org', 'refused'],
      ],
    )
    const alice = await store.contacts.get(ECHO, 'xmpp:alice@example.org')
    t.equal(alice?.id, kept.id, 'an existing contact keeps its id')
    t.ok((alice?.updatedAt ?? '') >= kept.updatedAt)
    const added = await store.contacts.get(ECHO, 'xmpp:new@example.org')
    t.match(added?.id, /^[0-9a-f-]{36}$/)
    t.equal(added?.displayName, 'Newcomer')
    t.same(await store.contacts.getById(added?.id ?? ''), added)
    t.same(
      (await store.contacts.list(OTHER)).map((c) => c.address),
      ['xmpp:gone-both@example.org'],
      'the other identity is untouched',
    )

    // An empty full roster removes every roster item, still not requests or refusals.
    await store.contacts.syncRoster(ECHO, [])
    t.same(await roster(store), [
      ['xmpp:asking@example.org', 'pending-in', null],
      ['xmpp:refused@example.org', 'refused', null],
    ])
  },
)

eachBackend(
  t,
  'syncRoster updates a pending-in or refused contact that is in the roster',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    await store.contacts.upsert({
      identity: ECHO,
      address: 'xmpp:asking@example.org',
      subscription: 'pending-in',
    })
    await store.contacts.upsert({
      identity: ECHO,
      address: 'xmpp:refused@example.org',
      subscription: 'refused',
    })
    await store.contacts.syncRoster(ECHO, [
      { identity: ECHO, address: 'xmpp:asking@example.org', subscription: 'both' },
      { identity: ECHO, address: 'xmpp:refused@example.org', subscription: 'none' },
    ])
    t.same(await roster(store), [
      ['xmpp:asking@example.org', 'both', null],
      ['xmpp:refused@example.org', 'none', null],
    ])
  },
)

eachBackend(
  t,
  'syncRoster keeps a displayName the entry omits, and updates one it gives',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    for (const [address, displayName] of [
      ['xmpp:kept@example.org', 'Kept'],
      ['xmpp:renamed@example.org', 'Old name'],
      ['xmpp:cleared@example.org', 'Cleared'],
    ] as const) {
      await store.contacts.upsert({ identity: ECHO, address, subscription: 'both', displayName })
    }
    await store.contacts.syncRoster(ECHO, [
      // ContactInput: "Left as stored when undefined; null clears it."
      { identity: ECHO, address: 'xmpp:kept@example.org', subscription: 'both' },
      {
        identity: ECHO,
        address: 'xmpp:renamed@example.org',
        subscription: 'both',
        displayName: 'New name',
      },
      {
        identity: ECHO,
        address: 'xmpp:cleared@example.org',
        subscription: 'both',
        displayName: null,
      },
    ])
    t.same(
      await roster(store),
      [
        ['xmpp:cleared@example.org', 'both', null],
        ['xmpp:kept@example.org', 'both', 'Kept'],
        ['xmpp:renamed@example.org', 'both', 'New name'],
      ],
      'omitted: kept; given: updated; null: cleared',
    )
  },
)

eachBackend(t, 'syncRoster refuses bad input and changes nothing', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  await store.contacts.upsert({
    identity: ECHO,
    address: 'xmpp:alice@example.org',
    subscription: 'both',
  })
  const before = await roster(store)
  await t.rejects(
    store.contacts.syncRoster(ECHO, [
      { identity: ECHO, address: 'xmpp:bob@example.org', subscription: 'both' },
      { identity: ECHO, address: 'bob', subscription: 'both' },
    ]),
    { code: 'PARLEY_ERR_ADDRESS_INVALID' },
  )
  await t.rejects(
    store.contacts.syncRoster(ECHO, [
      { identity: ECHO, address: 'xmpp:bob@example.org', subscription: 'to' as 'both' },
    ]),
    { code: 'PARLEY_ERR_VALIDATION' },
  )
  await t.rejects(store.contacts.syncRoster('echo', []), { code: 'PARLEY_ERR_ADDRESS_INVALID' })
  t.same(await roster(store), before)
})

eachBackend(
  t,
  'syncRoster with more than 500 entries, then with most of them gone',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const total = 1203
    const address = (i: number) => `xmpp:c${String(i).padStart(4, '0')}@example.org`
    const states = ['both', 'none', 'pending-out'] as const
    const entries: ContactInput[] = Array.from({ length: total }, (_, i) => ({
      identity: ECHO,
      address: address(i),
      subscription: states[i % states.length] ?? 'both',
      ...(i % 2 === 0 && { displayName: `Contact ${i}` }),
    }))
    // A pending request and a refusal among them, outside the roster.
    await store.contacts.upsert({
      identity: ECHO,
      address: 'xmpp:zz-asking@example.org',
      subscription: 'pending-in',
    })
    await store.contacts.upsert({
      identity: ECHO,
      address: 'xmpp:zz-refused@example.org',
      subscription: 'refused',
    })

    await store.contacts.syncRoster(ECHO, entries)
    const all = await store.contacts.list(ECHO)
    t.equal(all.length, total + 2)
    t.same(
      all.slice(0, total).map((c) => [c.address, c.subscription, c.displayName]),
      entries.map((e) => [e.address, e.subscription, e.displayName ?? null]),
      'every entry, in every chunk, with its own values',
    )
    t.equal(new Set(all.map((c) => c.id)).size, all.length, 'one id per contact')

    // Keep 7 of them (one per chunk and the last), with new states: over 500 deletions.
    const keep = [0, 1, 499, 500, 999, 1000, total - 1]
    await store.contacts.syncRoster(
      ECHO,
      keep.map((i) => ({ identity: ECHO, address: address(i), subscription: 'both' as const })),
    )
    t.same(
      (await store.contacts.list(ECHO)).map((c) => [c.address, c.subscription]),
      [
        ...keep.map((i) => [address(i), 'both']),
        ['xmpp:zz-asking@example.org', 'pending-in'],
        ['xmpp:zz-refused@example.org', 'refused'],
      ],
    )
  },
)
