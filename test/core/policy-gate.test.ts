import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import type { Policy } from '../../core/policy/index.js'
import { fakePlugin, testApp, waitFor } from '../helpers/app.js'
import { fakeConnections } from '../helpers/fake-network/index.js'
import { openPolicy } from '../helpers/policy.js'

/**
 * The policy enforced on every path, with the in-memory test network (the
 * real-peer versions are test/e2e/policy-*.test.ts): inbound events, REST
 * messages, bot replies and contact requests all meet the gate; a refusal is
 * coded, counted and never reaches a bot; a flooding sender is throttled
 * while others are not.
 */
const BLOCKING: Policy = { ...openPolicy(), blockedDomains: ['evil.example'] }

async function setup(t: Test, points = 100) {
  const key = randomUUID()
  const app = await testApp(t, {
    plugins: [fakePlugin(key)],
    bots: [{ name: 'echo', identities: ['fake:*'] }],
    policy: BLOCKING,
    federation: { senderLimit: { points, windowSeconds: 60 } },
  })
  const fake = fakeConnections.get(key)
  if (!fake) throw new Error('fake network not created')
  const count = async (sql: string, ...params: unknown[]) =>
    Number((await app.store.dataSource.query(sql, params))[0].n)
  return { app, fake, count }
}

t.test('a blocked domain: refused inbound and outbound, counted, never at the bot', async (t) => {
  const { app, fake, count } = await setup(t)

  await t.rejects(fake.receive('eve@evil.example', 'hello', 'm-1'), {
    code: 'PARLEY_ERR_POLICY_DENIED',
    retryable: false,
    message: /blocked-domain: .*'evil\.example' is blocked/,
  })
  // An allowed sender's message goes through, so the bot was there to answer eve too.
  await fake.receive('alice@good.example', 'hi', 'm-2')
  await waitFor('the echo to alice', () =>
    fake.sent.some((m) => m.to === 'fake:alice@good.example'),
  )
  t.notOk(
    fake.sent.some((m) => m.to.includes('evil.example')),
    'the bot never answered the blocked sender',
  )
  t.equal(
    await count("SELECT COUNT(*) AS n FROM messages WHERE from_address LIKE '%evil.example%'"),
    0,
    'nothing from the blocked sender was stored',
  )

  const rest = await app.inject({
    method: 'POST',
    url: '/v1/messages',
    payload: { to: 'fake:eve@evil.example', text: 'psst' },
  })
  t.equal(rest.statusCode, 403)
  t.equal(rest.json().code, 'PARLEY_ERR_POLICY_DENIED')
  t.match(rest.json().message, /blocked-domain/)

  const watch = await app.inject({
    method: 'POST',
    url: '/v1/contacts',
    payload: { address: 'fake:eve@evil.example' },
  })
  t.equal(watch.statusCode, 403)
  t.equal(watch.json().code, 'PARLEY_ERR_POLICY_DENIED')

  // A bot's reply to a refused address is kept as a failed record, not retried.
  const reply = await app.outbound({
    id: randomUUID(),
    from: 'fake:bot@fake.test',
    to: 'fake:eve@evil.example',
    text: 'from a bot',
    bot: 'echo',
    dedupKey: `reply-${randomUUID()}`,
  })
  t.match(reply, {
    status: 'failed',
    error: /^PARLEY_ERR_POLICY_DENIED: .*blocked-domain: .*evil\.example/,
  })
  t.notOk(
    fake.sent.some((m) => m.to.includes('evil.example')),
    'and it never left',
  )

  const { refusals } = (await app.inject({ method: 'GET', url: '/v1/policy/refusals' })).json()
  t.same(refusals, { 'inbound blocked-domain': 1, 'outbound blocked-domain': 3 })
})

t.test('a policy edit takes effect on the traffic at once', async (t) => {
  const { app, fake } = await setup(t)
  await fake.receive('bob@soon-blocked.example', 'one', 'b-1')
  const res = await app.inject({
    method: 'PUT',
    url: '/v1/policy/blocked-domains/soon-blocked.example',
  })
  t.equal(res.statusCode, 200)
  await t.rejects(fake.receive('bob@soon-blocked.example', 'two', 'b-2'), {
    code: 'PARLEY_ERR_POLICY_DENIED',
  })
  await app.inject({ method: 'DELETE', url: '/v1/policy/blocked-domains/soon-blocked.example' })
  await fake.receive('bob@soon-blocked.example', 'three', 'b-3')
})

t.test('a flooding sender is throttled; other senders are not', async (t) => {
  const { app, fake } = await setup(t, 5)
  for (let i = 0; i < 5; i++) await fake.receive('flood@good.example', `m${i}`, `f-${i}`)
  await t.rejects(fake.receive('flood@good.example', 'one too many', 'f-5'), {
    code: 'PARLEY_ERR_RATE_LIMITED',
    retryable: true,
    message: /more than 5 events in 60 s/,
  })
  await fake.receive('calm@good.example', 'still fine', 'c-1')
  const { refusals } = (await app.inject({ method: 'GET', url: '/v1/policy/refusals' })).json()
  t.same(refusals, { 'inbound sender-rate': 1 })
})

t.test('a network with no declared kind is refused, not guessed', async (t) => {
  const key = randomUUID()
  const app = await testApp(t, {
    plugins: [{ ...fakePlugin(key), module: './test/helpers/fake-network/kindless.ts' }],
  })
  const fake = fakeConnections.get(key)
  if (!fake) throw new Error('fake network not created')
  await t.rejects(fake.receive('alice@good.example', 'hi', 'k-1'), {
    code: 'PARLEY_ERR_POLICY_DENIED',
    message: /network-kind\.unknown/,
  })
  t.ok(app)
})
