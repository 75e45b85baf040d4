import t, { type Test } from 'tap'
import { eachBackend, testStore } from './fixtures/backends.js'

eachBackend(
  t,
  'plugin state reads what was set, upserts on set, and deletes',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const state = store.pluginState('xmpp')
    t.equal(await state.get('sm-id'), undefined, 'unset key')
    await state.set('sm-id', 'abc')
    t.equal(await state.get('sm-id'), 'abc')
    await state.set('sm-id', 'def')
    t.equal(await state.get('sm-id'), 'def', 'set again overwrites')
    await state.delete('sm-id')
    t.equal(await state.get('sm-id'), undefined)
    await state.delete('sm-id')
    t.pass('deleting a missing key is fine')
  },
)

eachBackend(t, 'each plugin sees only its own keys', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const xmpp = store.pluginState('xmpp')
  const sip = store.pluginState('sip')
  await xmpp.set('cursor', 'x-1')
  await sip.set('cursor', 's-1')
  t.equal(await xmpp.get('cursor'), 'x-1')
  t.equal(await sip.get('cursor'), 's-1')
  await sip.delete('cursor')
  t.equal(await xmpp.get('cursor'), 'x-1', 'another plugin’s delete does not touch it')
  t.equal(await store.pluginState('xmpp').get('cursor'), 'x-1', 'a new handle reads the same store')
})

eachBackend(
  t,
  'values keep empty strings, unicode and large text exactly',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const state = store.pluginState('yahoo')
    const values = ['', 'ünïcødé ✓ 🦜', JSON.stringify({ a: [1, 2, 3] }), 'x'.repeat(200_000)]
    for (const [i, value] of values.entries()) await state.set(`k${i}`, value)
    for (const [i, value] of values.entries()) t.equal(await state.get(`k${i}`), value)
  },
)

eachBackend(t, 'concurrent sets of one key leave one of the values', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const state = store.pluginState('aol')
  const values = Array.from({ length: 10 }, (_, i) => `v${i}`)
  await Promise.all(values.map((v) => state.set('k', v)))
  t.ok(values.includes((await state.get('k')) ?? ''))
})

eachBackend(t, 'bad plugin names, keys and values are refused', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  t.throws(() => store.pluginState(''), { code: 'PARLEY_ERR_VALIDATION' })
  const state = store.pluginState('xmpp')
  await t.rejects(state.set('', 'v'), { code: 'PARLEY_ERR_VALIDATION' })
  await t.rejects(state.get('k'.repeat(256)), { code: 'PARLEY_ERR_VALIDATION' })
  await t.rejects(state.set('k', 5 as unknown as string), { code: 'PARLEY_ERR_VALIDATION' })
  await t.rejects(state.delete(''), { code: 'PARLEY_ERR_VALIDATION' })
})
