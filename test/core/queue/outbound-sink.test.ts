import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { fakePlugin, testApp, waitFor } from '../../helpers/app.js'
import { fakeConnections } from '../../helpers/fake-network/index.js'

/**
 * The outbound sink when Redis refuses a job: a REST message is failed (its
 * client is told and may send it again); a bot reply stays queued, so the
 * retried turn that queues it again gets it out. Real Redis: the host's
 * producer connection is cut and restored.
 */
async function host(t: Test) {
  const key = randomUUID()
  const app = await testApp(t, { plugins: [fakePlugin(key)] })
  const fake = await waitFor('the fake network', () => fakeConnections.get(key))
  return { app, fake }
}

function reply(id: string) {
  return {
    id,
    from: 'fake:bot@fake.test',
    to: 'fake:alice@fake.test',
    text: 'a reply',
    bot: 'echo',
    dedupKey: `reply-${id}`,
  }
}

t.test(
  'a bot reply Redis refused waits in the outbox and goes out once Redis is back',
  async (t) => {
    const { app, fake } = await host(t)
    await waitFor('online', () => app.networks.isOnline('fake'))
    const id = randomUUID()
    app.queues.producer.disconnect()
    // The turn is not failed (run again, the bot would see its message twice).
    const kept = await app.outbound(reply(id))
    t.equal(kept.id, id)
    t.equal(kept.status, 'queued', 'kept queued, in the outbox')
    t.match(kept.error, /^queue unavailable/)
    // Redis comes back: the connection, fully closed, opens again.
    const producer = app.queues.producer
    await waitFor('the connection closed', () => producer.status === 'end')
    await producer.connect()
    const sent = await waitFor('the reply sent', () => fake.sent.find((m) => m.id === id))
    t.equal(sent.text, 'a reply')
    await waitFor(
      'recorded sent',
      async () => (await app.store.messages.get(id))?.status === 'sent',
    )
    // Swept once: later sweeps do not queue it again.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    t.equal(fake.sent.filter((m) => m.id === id).length, 1, 'sent once')
  },
)

t.test('a REST message Redis refused is failed, its client told', async (t) => {
  const { app } = await host(t)
  app.queues.producer.disconnect()
  t.teardown(() => app.queues.producer.connect().catch(() => undefined))
  const id = randomUUID()
  await t.rejects(
    app.outbound({ id, from: 'fake:bot@fake.test', to: 'fake:alice@fake.test', text: 'hi' }),
    { code: 'PARLEY_ERR_QUEUE_UNAVAILABLE' },
  )
  t.equal((await app.store.messages.get(id))?.status, 'failed')
})
