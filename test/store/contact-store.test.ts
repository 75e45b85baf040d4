import t, { type Test } from 'tap'
import { eachBackend, testStore } from './fixtures/backends.js'

const ECHO = 'xmpp:echo@example.org'

eachBackend(t, 'upsert adds a contact and returns the stored row', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const contact = await store.contacts.upsert({
    identity: ECHO,
    address: 'xmpp:alice@example.org',
    subscription: 'pending-in',
    displayName: 'Alice',
  })
  t.match(contact, {
    identity: ECHO,
    address: 'xmpp:alice@example.org',
    subscription: 'pending-in',
    displayName: 'Alice',
  })
  t.match(contact.id, /^[0-9a-f-]{36}$/)
  t.same(await store.contacts.get(ECHO, 'xmpp:alice@example.org'), contact)
})

eachBackend(t, 'upsert of an existing contact updates it in place', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const address = 'xmpp:alice@example.org'
  const first = await store.contacts.upsert({
    identity: ECHO,
    address,
    subscription: 'pending-in',
    displayName: 'Alice',
  })
  const both = await store.contacts.upsert({ identity: ECHO, address, subscription: 'both' })
  t.equal(both.id, first.id, 'same row')
  t.equal(both.subscription, 'both')
  t.equal(both.displayName, 'Alice', 'an omitted displayName is kept')
  t.ok(both.updatedAt >= first.updatedAt)
  const renamed = await store.contacts.upsert({
    identity: ECHO,
    address,
    subscription: 'both',
    displayName: 'Al',
  })
  t.equal(renamed.displayName, 'Al')
  const cleared = await store.contacts.upsert({
    identity: ECHO,
    address,
    subscription: 'refused',
    displayName: null,
  })
  t.match(cleared, { displayName: null, subscription: 'refused' })
  t.equal((await store.contacts.list(ECHO)).length, 1)
})

eachBackend(
  t,
  'list returns one identity’s contacts ordered by address',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    await store.contacts.upsert({
      identity: ECHO,
      address: 'xmpp:zoe@example.org',
      subscription: 'both',
    })
    await store.contacts.upsert({
      identity: ECHO,
      address: 'xmpp:bob@example.org',
      subscription: 'pending-out',
    })
    await store.contacts.upsert({
      identity: 'xmpp:other@example.org',
      address: 'xmpp:bob@example.org',
      subscription: 'none',
    })
    t.same(
      (await store.contacts.list(ECHO)).map((c) => [c.address, c.subscription]),
      [
        ['xmpp:bob@example.org', 'pending-out'],
        ['xmpp:zoe@example.org', 'both'],
      ],
    )
    t.same(
      (await store.contacts.list('xmpp:other@example.org')).map((c) => c.subscription),
      ['none'],
    )
    t.same(await store.contacts.list('xmpp:nobody@example.org'), [])
  },
)

eachBackend(t, 'concurrent upserts of one contact leave one row', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const states = ['none', 'pending-out', 'pending-in', 'both', 'refused'] as const
  await Promise.all(
    states.map((subscription) =>
      store.contacts.upsert({ identity: ECHO, address: 'sip:x@corp.example', subscription }),
    ),
  )
  const rows = await store.contacts.list(ECHO)
  t.equal(rows.length, 1)
  t.ok(states.includes(rows[0]?.subscription as (typeof states)[number]))
})

eachBackend(
  t,
  'an unknown subscription state or a bad address is refused',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    await t.rejects(
      store.contacts.upsert({
        identity: ECHO,
        address: 'xmpp:a@example.org',
        subscription: 'to' as 'both',
      }),
      { code: 'PARLEY_ERR_VALIDATION' },
    )
    await t.rejects(
      store.contacts.upsert({ identity: ECHO, address: 'alice', subscription: 'both' }),
      {
        code: 'PARLEY_ERR_ADDRESS_INVALID',
      },
    )
    await t.rejects(
      store.dataSource.query(
        `INSERT INTO ${store.dataSource
          .getMetadata('Contact')
          .tablePath.split('.')
          .map((p) => store.dataSource.driver.escape(p))
          .join(
            '.',
          )} (id, identity, address, subscription, updated_at) VALUES ('c1', 'a:b', 'a:c', 'to', 'x')`,
      ),
      /ck_contacts_subscription|CHECK constraint/i,
      'the database checks the state too',
    )
    t.same(await store.contacts.list(ECHO), [])
  },
)
