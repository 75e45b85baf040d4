import t, { type Test } from 'tap'
import { eachBackend, testStore } from './fixtures/backends.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

eachBackend(t, 'ensure creates an identity once and then returns it', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const first = await store.identities.ensure('xmpp:echo@example.org', 'xmpp')
  t.match(first, { id: UUID, address: 'xmpp:echo@example.org', network: 'xmpp', displayName: null })
  t.match(first.createdAt, /Z$/)
  const again = await store.identities.ensure('xmpp:echo@example.org', 'xmpp')
  t.same(again, first)
  t.same(await store.identities.get('xmpp:echo@example.org'), first)
  t.equal(await store.identities.get('xmpp:nobody@example.org'), undefined)
})

eachBackend(t, 'concurrent ensure of one address makes one identity', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const all = await Promise.all(
    Array.from({ length: 10 }, () => store.identities.ensure('sip:bot@corp.example', 'sip')),
  )
  t.equal(new Set(all.map((i) => i.id)).size, 1)
  t.equal((await store.identities.list()).length, 1)
})

eachBackend(
  t,
  'list returns identities by address, optionally of one network',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    await store.identities.ensure('xmpp:zed@example.org', 'xmpp')
    await store.identities.ensure('sip:bot@corp.example', 'sip')
    await store.identities.ensure('xmpp:echo@example.org', 'xmpp')
    t.same(
      (await store.identities.list()).map((i) => i.address),
      ['sip:bot@corp.example', 'xmpp:echo@example.org', 'xmpp:zed@example.org'],
    )
    t.same(
      (await store.identities.list('xmpp')).map((i) => i.address),
      ['xmpp:echo@example.org', 'xmpp:zed@example.org'],
    )
  },
)

eachBackend(
  t,
  'an address that is not on the given network is refused',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    await t.rejects(store.identities.ensure('sip:bot@corp.example', 'xmpp'), {
      code: 'PARLEY_ERR_ADDRESS_INVALID',
    })
    await t.rejects(store.identities.ensure('no-colon', 'xmpp'), {
      code: 'PARLEY_ERR_ADDRESS_INVALID',
    })
    t.same(await store.identities.list(), [])
  },
)
