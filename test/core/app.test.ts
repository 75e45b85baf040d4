import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { fakePlugin, testApp, waitFor } from '../helpers/app.js'
import { turns } from '../helpers/bots/flaky/index.js'
import { started } from '../helpers/bots/slow/index.js'
import { fakeConnections } from '../helpers/fake-network/index.js'
import { dropSchema, PG_TEST_URL, uniqueSchemaName } from '../store/fixtures/backends.js'

const flakyBot = (failures: number) => ({
  name: 'flaky',
  module: './test/helpers/bots/flaky/index.ts',
  identities: ['fake:*'],
  options: { failures },
})

async function echoHost(t: Test, bots = [{ name: 'echo', identities: ['fake:bot@fake.test'] }]) {
  const key = randomUUID()
  const app = await testApp(t, { plugins: [fakePlugin(key)], bots })
  const fake = fakeConnections.get(key)
  if (!fake) throw new Error('fake network not created')
  return { app, fake }
}

t.test(
  'an inbound message reaches the echo bot and its reply is sent, records marked',
  async (t) => {
    const { app, fake } = await echoHost(t)
    await fake.receive('alice@fake.test', 'hello', 'm-1')
    const sent = await waitFor('the echo reply', () => fake.sent[0])
    t.equal(sent.text, 'echo: hello')
    t.equal(sent.to, 'fake:alice@fake.test')
    t.equal(sent.from, 'fake:bot@fake.test')
    const reply = await waitFor('reply record sent', async () => {
      const r = await app.store.messages.get(sent.id)
      return r?.status === 'sent' ? r : undefined
    })
    t.equal(reply.remoteId, `fake-${sent.id}`)
    t.equal(reply.direction, 'out')
    t.same(
      (await app.store.identities.list('fake')).map((i) => i.address),
      ['fake:bot@fake.test'],
      "the network's identity is recorded",
    )
    const inbound = await app.store.messages.list({ status: 'handled', limit: 10 })
    t.equal(inbound.length, 1)
    t.equal(inbound[0]?.text, 'hello')
  },
)

t.test('a redelivered message (same remote id) is answered once', async (t) => {
  const { fake } = await echoHost(t)
  await fake.receive('alice@fake.test', 'once', 'dup-1')
  await waitFor('first reply', () => fake.sent.length === 1)
  await fake.receive('alice@fake.test', 'once', 'dup-1')
  await fake.receive('alice@fake.test', 'second', 'dup-2')
  await waitFor('second reply', () => fake.sent.length === 2)
  await new Promise((r) => setTimeout(r, 300))
  t.same(
    fake.sent.map((m) => m.text),
    ['echo: once', 'echo: second'],
  )
})

t.test('replies keep the order of the messages of one conversation', async (t) => {
  const { fake } = await echoHost(t)
  const texts = Array.from({ length: 50 }, (_, i) => `n${i}`)
  for (const [i, text] of texts.entries()) await fake.receive('bob@fake.test', text, `o-${i}`)
  await waitFor('50 replies', () => fake.sent.length === 50)
  t.same(
    fake.sent.map((m) => m.text),
    texts.map((x) => `echo: ${x}`),
  )
})

t.test('POST /v1/messages is delivered and GET /v1/messages/:id reports sent', async (t) => {
  const { app, fake } = await echoHost(t)
  const res = await app.inject({
    method: 'POST',
    url: '/v1/messages',
    payload: { to: 'fake:Carol@fake.test', text: 'hi' },
  })
  t.equal(res.statusCode, 202)
  const { id } = res.json()
  await waitFor('delivery', () => fake.sent.find((m) => m.id === id))
  t.equal(fake.sent[0]?.to, 'fake:carol@fake.test', 'recipient normalised by the plugin')
  const status = await waitFor('sent status', async () => {
    const r = await app.inject({ method: 'GET', url: `/v1/messages/${id}` })
    return r.json().status === 'sent' ? r.json() : undefined
  })
  t.equal(status.attempts, 1)
  t.equal(status.from, 'fake:bot@fake.test')
})

t.test('messages queued while the network is offline are sent once it is back', async (t) => {
  const { app, fake } = await echoHost(t)
  fake.goOffline('peer went away')
  const ids: string[] = []
  for (let i = 0; i < 5; i++) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/messages',
      payload: { to: 'fake:dan@fake.test', text: `q${i}` },
    })
    ids.push(res.json().id)
  }
  await new Promise((r) => setTimeout(r, 300))
  t.equal(fake.sent.length, 0, 'nothing sent while offline')
  const view = (await app.inject({ method: 'GET', url: '/v1/networks/fake' })).json()
  t.equal(view.status, 'offline')
  t.equal(view.reason, 'peer went away')
  fake.goOnline()
  await waitFor('all five sent', () => fake.sent.length === 5)
  t.same(
    fake.sent.map((m) => m.text),
    ['q0', 'q1', 'q2', 'q3', 'q4'],
  )
  for (const id of ids) t.equal((await app.store.messages.get(id))?.status, 'sent')
})

t.test('a retryable send failure is retried with backoff, then sent', async (t) => {
  const { app, fake } = await echoHost(t)
  fake.failNext(2, true)
  const { id } = (
    await app.inject({
      method: 'POST',
      url: '/v1/messages',
      payload: { to: 'fake:e@fake.test', text: 'r' },
    })
  ).json()
  const record = await waitFor('sent after retries', async () => {
    const r = await app.store.messages.get(id)
    return r?.status === 'sent' ? r : undefined
  })
  t.equal(record.attempts, 3)
  t.equal(fake.sent.length, 1)
})

t.test('a non-retryable send failure fails the message at once with the reason', async (t) => {
  const { app, fake } = await echoHost(t)
  fake.failNext(1, false)
  const { id } = (
    await app.inject({
      method: 'POST',
      url: '/v1/messages',
      payload: { to: 'fake:f@fake.test', text: 'x' },
    })
  ).json()
  const record = await waitFor('failed', async () => {
    const r = await app.store.messages.get(id)
    return r?.status === 'failed' ? r : undefined
  })
  t.equal(record.attempts, 1)
  t.match(record.error, /PARLEY_ERR_REMOTE_REFUSED/)
  const failed = await app.queues.outboundFor('fake').getFailed()
  t.equal(failed.length, 1, 'the failed job is kept and visible')
  const listed = (
    await app.inject({ method: 'GET', url: '/v1/messages?status=failed&direction=out' })
  ).json()
  t.same(
    listed.messages.map((m: { id: string }) => m.id),
    [id],
    'and listed over REST',
  )
})

t.test('a bot that throws leaves the message failed and retried, not lost', async (t) => {
  const { app, fake } = await echoHost(t, [flakyBot(2)])
  const text = `flaky-${randomUUID()}`
  await fake.receive('g@fake.test', text, 'fl-1')
  const reply = await waitFor('reply after two failed turns', () => fake.sent[0])
  t.equal(reply.text, `ok: ${text}`)
  t.equal(turns.get(text), 3)
  const [record] = await app.store.messages.list({ status: 'handled', limit: 5 })
  t.equal(record?.text, text)
})

t.test('a message to an identity no bot answers is recorded, not lost', async (t) => {
  const { app, fake } = await echoHost(t, [])
  await fake.receive('h@fake.test', 'anyone?', 'nb-1')
  const records = await waitFor('recorded', async () => {
    const list = await app.store.messages.list({ limit: 5 })
    return list.length ? list : undefined
  })
  t.equal(records[0]?.text, 'anyone?')
  t.equal(fake.sent.length, 0)
})

t.test('a plugin that throws on start leaves the host up and the network failed', async (t) => {
  const app = await testApp(t, { plugins: [fakePlugin(randomUUID(), { throwOnStart: true })] })
  const health = await app.inject({ method: 'GET', url: '/health' })
  t.equal(health.statusCode, 200)
  const { networks } = (await app.inject({ method: 'GET', url: '/v1/networks' })).json()
  t.equal(networks[0].status, 'failed')
  t.match(networks[0].reason, /refuses to start/)
  t.equal(networks[0].lastError.code, 'PARLEY_ERR_PLUGIN_START')
})

t.test('a plugin module that cannot be imported leaves the network failed', async (t) => {
  const app = await testApp(t, {
    plugins: [{ name: 'ghost', module: './test/helpers/no-such-plugin.ts' }],
  })
  const view = (await app.inject({ method: 'GET', url: '/v1/networks/ghost' })).json()
  t.equal(view.status, 'failed')
  t.equal(view.lastError.code, 'PARLEY_ERR_PLUGIN_LOAD')
})

t.test('invalid plugin options stop the start with a line naming plugin and field', async (t) => {
  await t.rejects(
    testApp(t, {
      plugins: [{ name: 'fake', module: './test/helpers/fake-network/index.ts', options: {} }],
    }),
    {
      code: 'PARLEY_ERR_PLUGIN_CONFIG',
      message: "Invalid config for plugin 'fake': options.key: is required",
    },
  )
})

t.test('/v1/networks redacts secrets', async (t) => {
  const app = await testApp(t, { plugins: [fakePlugin(randomUUID(), { password: 'hunter2' })] })
  const res = await app.inject({ method: 'GET', url: '/v1/networks' })
  t.notMatch(res.body, /hunter2/)
  t.equal(res.json().networks[0].options.password, '[redacted]')
})

t.test('the whole path works on PostgreSQL too', async (t) => {
  const schema = uniqueSchemaName()
  t.teardown(() => dropSchema(schema))
  const key = randomUUID()
  const app = await testApp(t, {
    database: { url: PG_TEST_URL, schema },
    plugins: [fakePlugin(key)],
    bots: [{ name: 'echo', identities: ['fake:*'] }],
  })
  const fake = fakeConnections.get(key)
  if (!fake) throw new Error('fake network not created')
  await fake.receive('pg@fake.test', 'on postgres', 'pg-1')
  const sent = await waitFor('echo over postgres', () => fake.sent[0])
  t.equal(sent.text, 'echo: on postgres')
  const reply = await waitFor('sent', async () => {
    const r = await app.store.messages.get(sent.id)
    return r?.status === 'sent' ? r : undefined
  })
  t.equal(reply.attempts, 1)
})

t.test('closing the host drains a bot turn in flight: its reply is still sent', async (t) => {
  const key = randomUUID()
  const app = await testApp(t, {
    plugins: [fakePlugin(key)],
    bots: [
      {
        name: 'slow',
        module: './test/helpers/bots/slow/index.ts',
        identities: ['fake:*'],
        options: { delayMs: 400 },
      },
    ],
  })
  const fake = fakeConnections.get(key)
  if (!fake) throw new Error('fake network not created')
  const text = `drain-${randomUUID()}`
  await fake.receive('slowpoke@fake.test', text, 'slow-1')
  await waitFor('the turn started', () => started.includes(text))
  const record = await waitFor(
    'inbound recorded',
    async () => (await app.store.messages.list({ limit: 1 }))[0],
  )
  await app.close()
  t.equal(fake.sent.length, 1, 'the reply went out before the connection closed')
  t.equal(fake.sent[0]?.text, `slow: ${text}`)
  t.equal(record.text, text)
})

t.test(
  'a bot turn that runs past botTurnTimeoutMs fails and is retried, the host runs on',
  async (t) => {
    const key = randomUUID()
    const app = await testApp(t, {
      queues: { botTurnTimeoutMs: 100, attempts: 2 },
      plugins: [fakePlugin(key)],
      bots: [
        {
          name: 'slow',
          module: './test/helpers/bots/slow/index.ts',
          identities: ['fake:*'],
          options: { delayMs: 1000 },
        },
      ],
    })
    const fake = fakeConnections.get(key)
    if (!fake) throw new Error('fake network not created')
    await fake.receive('hang@fake.test', 'hang', 'hang-1')
    const failed = await waitFor('the message failed after its attempts', async () => {
      const [record] = await app.store.messages.list({ status: 'failed', limit: 1 })
      const jobs = await app.queues.inbound.getFailed()
      return record && jobs.length === 1 ? { record, job: jobs[0] } : undefined
    })
    t.match(failed.record.error, /did not finish its turn in 100 ms/)
    t.equal(failed.job?.attemptsMade, 2)
    t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200)
  },
)

t.test('invalid bot options stop the start with a line naming bot and field', async (t) => {
  await t.rejects(
    testApp(t, { bots: [{ name: 'echo', identities: ['fake:*'], options: { prefix: 42 } }] }),
    {
      code: 'PARLEY_ERR_BOT_CONFIG',
      message: "Invalid config for bot 'echo': options.prefix: must be string",
    },
  )
})

t.test('a bot option reaches the bot: the echo prefix', async (t) => {
  const key = randomUUID()
  await testApp(t, {
    plugins: [fakePlugin(key)],
    bots: [{ name: 'echo', identities: ['fake:*'], options: { prefix: 're: ' } }],
  })
  const fake = fakeConnections.get(key)
  if (!fake) throw new Error('fake network not created')
  await fake.receive('opt@fake.test', 'hi', 'opt-1')
  t.equal((await waitFor('reply', () => fake.sent[0])).text, 're: hi')
})
