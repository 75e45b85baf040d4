import { randomUUID } from 'node:crypto'
import t from 'tap'
import { fakePlugin, testApp, waitFor } from '../../helpers/app.js'
import { hooks, turns } from '../../helpers/bots/outage/index.js'
import { fakeConnections } from '../../helpers/fake-network/index.js'
import { startTcpProxy } from '../../peers/tcp-proxy.js'
import { dropSchema, PG_TEST_URL, uniqueSchemaName } from '../../store/fixtures/backends.js'

/**
 * A turn that ran while the database went away: its reply could not be
 * recorded, so the attempt failed. The next attempt records and sends what
 * the bot sent without asking the bot again. Real PostgreSQL, behind a TCP
 * proxy the test cuts from inside the bot's turn.
 */
t.test('the database lost mid-turn: the reply goes out once, the bot is asked once', async (t) => {
  const target = new URL(PG_TEST_URL)
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
  t.teardown(() => proxy.close())
  const schema = uniqueSchemaName()
  t.teardown(() => dropSchema(schema))
  target.host = `127.0.0.1:${proxy.port}`
  const key = randomUUID()
  const app = await testApp(t, {
    database: { url: target.toString(), schema },
    plugins: [fakePlugin(key)],
    bots: [
      {
        name: 'outage',
        module: './test/helpers/bots/outage/index.ts',
        identities: ['fake:bot@fake.test'],
      },
    ],
    queues: { attempts: 20, backoffMs: 100, backoffMaxMs: 300 },
  })
  const fake = await waitFor('the fake network', () => fakeConnections.get(key))
  await waitFor('online', () => app.networks.isOnline('fake'))
  const text = `cut-${randomUUID().slice(0, 8)}`
  hooks.during = (seen) => {
    if (seen !== text) return
    // The database goes away while the bot answers; it is back a second later.
    proxy.outage()
    setTimeout(() => proxy.restore(), 1000)
  }
  t.teardown(() => {
    hooks.during = undefined
  })
  await fake.receive('alice@fake.test', text, randomUUID())
  const reply = await waitFor(
    'the reply sent',
    () => fake.sent.find((m) => m.text === `outage: ${text}`),
    20_000,
  )
  t.equal(reply.to, 'fake:alice@fake.test')
  await waitFor('the message handled', async () => {
    const [inbound] = await app.store.messages.list({ direction: 'in', limit: 1 })
    return inbound?.status === 'handled'
  })
  t.equal(turns.get(text), 1, 'the bot was asked once')
  t.equal(fake.sent.filter((m) => m.text === `outage: ${text}`).length, 1, 'sent once')
})
