import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import type { Store } from '../../core/store/store.js'
import { eachBackend, inbound, outbound, testStore } from './fixtures/backends.js'

async function count(store: Store): Promise<number> {
  const rows = await store.dataSource.query(
    `SELECT COUNT(*) AS n FROM ${store.dataSource
      .getMetadata('MessageRecord')
      .tablePath.split('.')
      .map((p) => store.dataSource.driver.escape(p))
      .join('.')}`,
  )
  return Number(rows[0].n)
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

eachBackend(
  t,
  'createOutbound records a queued message and get returns it',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const input = outbound({ replyTo: 'stanza-1', bot: 'echo', dedupKey: 'activity-1' })
    const { record, created } = await store.messages.createOutbound(input)
    t.equal(created, true)
    t.match(record, {
      id: input.id,
      direction: 'out',
      network: 'xmpp',
      dedupKey: 'activity-1',
      from: 'xmpp:echo@example.org',
      to: 'xmpp:alice@example.org',
      text: 'hello alice',
      status: 'queued',
      attempts: 0,
      remoteId: null,
      replyTo: 'stanza-1',
      error: null,
      bot: 'echo',
    })
    t.match(record.createdAt, ISO)
    t.equal(record.updatedAt, record.createdAt)
    const stored = await store.messages.get(input.id)
    t.same(stored, record, 'what is stored is what was returned')
    t.equal(Object.getPrototypeOf(stored), Object.prototype, 'a plain object')
    t.equal(await store.messages.get(randomUUID()), undefined)
  },
)

eachBackend(
  t,
  'createOutbound with optional fields left out stores nulls',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const input = outbound({ text: '' })
    await store.messages.createOutbound(input)
    t.match(await store.messages.get(input.id), {
      dedupKey: null,
      replyTo: null,
      bot: null,
      text: '',
    })
  },
)

eachBackend(
  t,
  'a redelivered outbound message (same dedupKey) returns the first record',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const first = await store.messages.createOutbound(
      outbound({ dedupKey: 'activity-7', text: 'one' }),
    )
    const again = await store.messages.createOutbound(
      outbound({ dedupKey: 'activity-7', text: 'two' }),
    )
    t.equal(again.created, false)
    t.same(again.record, first.record)
    t.equal(await count(store), 1)
  },
)

eachBackend(t, 'the same outbound id twice creates one record', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const input = outbound()
  t.equal((await store.messages.createOutbound(input)).created, true)
  const again = await store.messages.createOutbound(input)
  t.equal(again.created, false)
  t.equal(again.record.id, input.id)
  t.equal(await count(store), 1)
})

eachBackend(
  t,
  'outbound messages without a dedupKey never collide with each other',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    for (let i = 0; i < 3; i++)
      t.equal((await store.messages.createOutbound(outbound())).created, true)
    t.equal(await count(store), 3)
  },
)

eachBackend(
  t,
  '20 concurrent createOutbound with one dedupKey create exactly one record',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        store.messages.createOutbound(outbound({ dedupKey: 'activity-race' })),
      ),
    )
    t.equal(results.filter((r) => r.created).length, 1)
    t.equal(new Set(results.map((r) => r.record.id)).size, 1, 'all see the same record')
    t.equal(await count(store), 1)
  },
)

eachBackend(t, 'recordInbound records a received message', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const input = inbound()
  const { record, created } = await store.messages.recordInbound(input)
  t.equal(created, true)
  t.match(record, {
    id: input.id,
    direction: 'in',
    network: 'xmpp',
    dedupKey: input.dedupKey,
    from: input.from,
    to: input.to,
    text: input.text,
    status: 'received',
    attempts: 0,
    remoteId: input.remoteId,
    replyTo: null,
    error: null,
    bot: null,
  })
  t.same(await store.messages.get(input.id), record)
})

eachBackend(
  t,
  'a redelivered inbound message (same dedupKey) is recorded once',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const first = await store.messages.recordInbound(inbound({ dedupKey: 'in-k1' }))
    await store.messages.markHandled(first.record.id)
    const again = await store.messages.recordInbound(inbound({ dedupKey: 'in-k1' }))
    t.equal(again.created, false)
    t.equal(again.record.id, first.record.id)
    t.equal(again.record.status, 'handled', 'the caller sees it was already handled')
    t.equal(await count(store), 1)
  },
)

eachBackend(
  t,
  '20 concurrent recordInbound with one dedupKey create exactly one record',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        store.messages.recordInbound(inbound({ dedupKey: 'in-race' })),
      ),
    )
    t.equal(results.filter((r) => r.created).length, 1, 'exactly one created')
    t.equal(new Set(results.map((r) => r.record.id)).size, 1, 'all see the same record')
    t.equal(await count(store), 1)
  },
)

eachBackend(
  t,
  'concurrent recordInbound of distinct messages loses none',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const results = await Promise.all(
      Array.from({ length: 50 }, () => store.messages.recordInbound(inbound())),
    )
    t.equal(results.filter((r) => r.created).length, 50)
    t.equal(await count(store), 50)
  },
)

eachBackend(
  t,
  'an outbound message goes queued -> queued (attempt) -> sent -> delivered',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const { record } = await store.messages.createOutbound(outbound())
    t.equal(
      await store.messages.markAttempt(record.id, { attempts: 1, error: 'service-unavailable' }),
      true,
    )
    t.match(await store.messages.get(record.id), {
      status: 'queued',
      attempts: 1,
      error: 'service-unavailable',
    })
    t.equal(await store.messages.markSent(record.id, { remoteId: 'remote-9', attempts: 2 }), true)
    const sent = await store.messages.get(record.id)
    t.match(sent, {
      status: 'sent',
      attempts: 2,
      remoteId: 'remote-9',
      error: 'service-unavailable',
    })
    t.ok((sent?.updatedAt ?? '') >= record.updatedAt, 'updatedAt moves forward')
    t.equal(await store.messages.markDelivered(record.id), true)
    t.match(await store.messages.get(record.id), { status: 'delivered', remoteId: 'remote-9' })
  },
)

eachBackend(t, 'a sent message is not sent, failed or retried again', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const { record } = await store.messages.createOutbound(outbound())
  await store.messages.markSent(record.id, { remoteId: 'r-1', attempts: 1 })
  t.equal(await store.messages.markSent(record.id, { remoteId: 'r-2', attempts: 2 }), false)
  t.equal(await store.messages.markFailed(record.id, { error: 'late', attempts: 2 }), false)
  t.equal(await store.messages.markAttempt(record.id, { error: 'late', attempts: 2 }), false)
  t.equal(await store.messages.markHandled(record.id), false, 'handled is for inbound messages')
  t.match(await store.messages.get(record.id), {
    status: 'sent',
    remoteId: 'r-1',
    attempts: 1,
    error: null,
  })
})

eachBackend(t, 'a failed outbound message can be retried and sent', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const { record } = await store.messages.createOutbound(outbound())
  t.equal(await store.messages.markDelivered(record.id), false, 'not delivered before sent')
  t.equal(
    await store.messages.markFailed(record.id, {
      error: 'PARLEY_ERR_SEND_FAILED: boom',
      attempts: 3,
    }),
    true,
  )
  t.match(await store.messages.get(record.id), {
    status: 'failed',
    attempts: 3,
    error: 'PARLEY_ERR_SEND_FAILED: boom',
  })
  t.equal(
    await store.messages.markFailed(record.id, { error: 'again', attempts: 4 }),
    true,
    'a repeat refreshes it',
  )
  t.match(await store.messages.get(record.id), { status: 'failed', attempts: 4, error: 'again' })
  t.equal(await store.messages.markAttempt(record.id, { error: 'retrying', attempts: 5 }), true)
  t.match(await store.messages.get(record.id), { status: 'queued', attempts: 5 })
  t.equal(await store.messages.markFailed(record.id, { error: 'x', attempts: 6 }), true)
  t.equal(
    await store.messages.markSent(record.id, { remoteId: 'r', attempts: 7 }),
    true,
    'failed -> sent',
  )
})

eachBackend(
  t,
  'an inbound message goes received -> failed -> handled, and no further',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const { record } = await store.messages.recordInbound(inbound())
    t.equal(
      await store.messages.markSent(record.id, { remoteId: 'x', attempts: 1 }),
      false,
      'sent is for outbound',
    )
    t.equal(await store.messages.markAttempt(record.id, { error: 'x', attempts: 1 }), false)
    t.equal(
      await store.messages.markFailed(record.id, {
        error: 'PARLEY_ERR_BOT_TURN: oops',
        attempts: 1,
      }),
      true,
    )
    t.match(await store.messages.get(record.id), {
      status: 'failed',
      error: 'PARLEY_ERR_BOT_TURN: oops',
      attempts: 1,
    })
    t.equal(await store.messages.markHandled(record.id), true)
    t.match(await store.messages.get(record.id), { status: 'handled' })
    t.equal(await store.messages.markHandled(record.id), false, 'already handled')
    t.equal(await store.messages.markFailed(record.id, { error: 'late', attempts: 2 }), false)
    t.match(await store.messages.get(record.id), { status: 'handled', attempts: 1 })
  },
)

eachBackend(
  t,
  'marking a message that does not exist is PARLEY_ERR_MESSAGE_NOT_FOUND',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const id = randomUUID()
    const notFound = { code: 'PARLEY_ERR_MESSAGE_NOT_FOUND', statusCode: 404 }
    await t.rejects(store.messages.markSent(id, { remoteId: 'r', attempts: 1 }), notFound)
    await t.rejects(store.messages.markFailed(id, { error: 'e', attempts: 1 }), notFound)
    await t.rejects(store.messages.markAttempt(id, { error: 'e', attempts: 1 }), notFound)
    await t.rejects(store.messages.markHandled(id), notFound)
    await t.rejects(store.messages.markDelivered(id), notFound)
  },
)

eachBackend(
  t,
  'invalid input is PARLEY_ERR_VALIDATION and stores nothing',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const invalid = { code: 'PARLEY_ERR_VALIDATION', statusCode: 400 }
    await t.rejects(store.messages.createOutbound(outbound({ id: 'not-a-uuid' })), invalid)
    await t.rejects(store.messages.createOutbound(outbound({ network: '' })), invalid)
    await t.rejects(
      store.messages.createOutbound(outbound({ to: `xmpp:${'a'.repeat(1100)}` })),
      invalid,
    )
    await t.rejects(store.messages.createOutbound(outbound({ dedupKey: 'k'.repeat(256) })), invalid)
    await t.rejects(
      store.messages.createOutbound(outbound({ text: 42 as unknown as string })),
      invalid,
    )
    await t.rejects(store.messages.recordInbound(inbound({ dedupKey: '' })), invalid)
    await t.rejects(
      store.messages.recordInbound(inbound({ remoteId: undefined as unknown as string })),
      invalid,
    )
    const { record } = await store.messages.createOutbound(outbound())
    await t.rejects(store.messages.markSent(record.id, { remoteId: 'r', attempts: -1 }), invalid)
    await t.rejects(store.messages.markFailed(record.id, { error: 'e', attempts: 1.5 }), invalid)
    await t.rejects(store.messages.list({ limit: 0 }), invalid)
    await t.rejects(store.messages.list({ limit: 1001 }), invalid)
    await t.rejects(store.messages.list({ status: 'lost' as 'sent' }), invalid)
    t.equal(await count(store), 1)
  },
)

eachBackend(
  t,
  'the database refuses a status that does not belong to the direction',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const { record } = await store.messages.recordInbound(inbound())
    await t.rejects(
      store.dataSource
        .createQueryBuilder()
        .update('MessageRecord')
        .set({ status: 'sent' })
        .where('id = :id', { id: record.id })
        .execute(),
      /ck_messages_status|CHECK constraint/i,
    )
  },
)

eachBackend(
  t,
  'list filters by status, direction and network, newest first, up to limit',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    // Timestamps have millisecond resolution: space the records so "newest first" is unambiguous.
    const tick = () => new Promise((r) => setTimeout(r, 3))
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const { record } = await store.messages.createOutbound(outbound({ text: `m${i}` }))
      ids.push(record.id)
      await tick()
    }
    await store.messages.markSent(ids[1] as string, { remoteId: 'r1', attempts: 1 })
    await store.messages.markSent(ids[3] as string, { remoteId: 'r3', attempts: 1 })
    const sip = await store.messages.createOutbound(
      outbound({ network: 'sip', to: 'sip:bob@corp.example' }),
    )
    await tick()
    const inb = await store.messages.recordInbound(inbound())

    t.same(
      (await store.messages.list({ status: 'sent', limit: 10 })).map((m) => m.id),
      [ids[3], ids[1]],
    )
    t.same(
      (await store.messages.list({ limit: 3 })).map((m) => m.id),
      [inb.record.id, sip.record.id, ids[4]],
      'newest first, limited',
    )
    t.same(
      (await store.messages.list({ direction: 'in', limit: 10 })).map((m) => m.id),
      [inb.record.id],
    )
    t.same(
      (await store.messages.list({ network: 'sip', limit: 10 })).map((m) => m.id),
      [sip.record.id],
    )
    t.equal((await store.messages.list()).length, 7, 'default limit 50')
    // By the start of the last error, taken literally (% and _ are not wildcards).
    await store.messages.markAttempt(ids[0] as string, {
      attempts: 0,
      error: 'queue unavailable: x',
    })
    await store.messages.markAttempt(ids[2] as string, { attempts: 1, error: 'queue_unavailable%' })
    t.same(
      (await store.messages.list({ errorPrefix: 'queue unavailable', limit: 10 })).map((m) => m.id),
      [ids[0]],
    )
    t.same(
      (await store.messages.list({ errorPrefix: 'queue_unavailable%', limit: 10 })).map(
        (m) => m.id,
      ),
      [ids[2]],
    )
    t.same(await store.messages.list({ errorPrefix: 'queue%', limit: 10 }), [])
    t.equal(
      (await store.messages.list({ status: 'queued', direction: 'out', network: 'xmpp' })).length,
      3,
    )
    const [first] = await store.messages.list({ limit: 1 })
    t.equal(Object.getPrototypeOf(first), Object.prototype, 'plain objects')
  },
)
