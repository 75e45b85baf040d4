import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { QueryFailedError } from 'typeorm'
import { createDataSource } from '../../core/store/data-source.js'
import { createExecutor, type StatementExecutor } from '../../core/store/group-commit.js'
import { createMessageStore, type MessageStore } from '../../core/store/message-store.js'
import { openStore, type Store } from '../../core/store/store.js'
import { eachBackend, freshDatabase, inbound, outbound, testStore } from './fixtures/backends.js'

/** A message store on `store`'s DataSource with an executor the test can inspect. */
function inspectable(
  t: Test,
  store: Store,
): { messages: MessageStore; executor: StatementExecutor } {
  const executor = createExecutor(store.dataSource)
  t.teardown(() => executor.close())
  return { messages: createMessageStore(store.dataSource, executor), executor }
}

function table(store: Store): string {
  return store.dataSource
    .getMetadata('MessageRecord')
    .tablePath.split('.')
    .map((p) => store.dataSource.driver.escape(p))
    .join('.')
}

/** `sql` with `?` placeholders written for the store's driver. */
function placeholders(store: Store, sql: string): string {
  let n = 0
  return store.driver === 'postgres' ? sql.replace(/\?/g, () => `$${++n}`) : sql
}

eachBackend(
  t,
  'concurrent calls share a transaction and each gets its own result',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const { messages, executor } = inspectable(t, store)
    const handledAlready = inbound()
    await messages.recordInbound(handledAlready)
    await messages.markHandled(handledAlready.id)
    const before = { ...executor.stats }

    const key = `activity-${randomUUID()}`
    const fresh = Array.from({ length: 10 }, () => inbound())
    const twins = Array.from({ length: 5 }, () => outbound({ dedupKey: key }))
    const unknown = randomUUID()
    const [created, twinResults, again, handled, missing] = await Promise.all([
      Promise.all(fresh.map((m) => messages.recordInbound(m))),
      Promise.all(twins.map((m) => messages.createOutbound(m))),
      messages.recordInbound({ ...handledAlready, id: randomUUID() }),
      messages.markHandled(handledAlready.id),
      messages.markSent(unknown, { remoteId: 'r', attempts: 1 }).catch((e: unknown) => e),
    ])

    t.ok(executor.stats.batches > before.batches, 'writes were committed together')
    t.same(
      created.map((r) => [r.created, r.record.id, r.record.status]),
      fresh.map((m) => [true, m.id, 'received']),
    )
    t.equal(twinResults.filter((r) => r.created).length, 1, 'one of five twins is created')
    const first = twinResults.find((r) => r.created)?.record
    for (const r of twinResults) t.same(r.record, first, 'every twin returns the same record')
    t.equal(again.created, false)
    t.equal(again.record.id, handledAlready.id, 'a redelivery returns the first record')
    t.equal(again.record.status, 'handled')
    t.equal(handled, false, 'markHandled on a handled message changes nothing')
    t.match(missing, { code: 'PARLEY_ERR_MESSAGE_NOT_FOUND' })
    for (const m of fresh) t.equal((await messages.get(m.id))?.status, 'received')
  },
)

eachBackend(t, 'a failing statement in a batch fails only its caller', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const executor = createExecutor(store.dataSource)
  t.teardown(() => executor.close())
  const now = new Date().toISOString()
  const insert = placeholders(
    store,
    `INSERT INTO ${table(store)} (id, direction, network, from_address, to_address, text, status, attempts, created_at, updated_at) VALUES (?, ?, 'xmpp', 'xmpp:a@x.org', 'xmpp:b@y.org', 'hi', ?, 0, ?, ?)`,
  )
  const good1 = randomUUID()
  const bad = randomUUID()
  const good2 = randomUUID()
  const results = await Promise.allSettled([
    executor.write(insert, [good1, 'out', 'queued', now, now]),
    // ck_messages_status: an inbound message cannot be queued.
    executor.write(insert, [bad, 'in', 'queued', now, now]),
    executor.write(insert, [good2, 'in', 'received', now, now]),
  ])
  t.same(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  )
  t.same(
    results.map((r) => (r.status === 'fulfilled' ? r.value : undefined)),
    [1, undefined, 1],
  )
  const reason = (results[1] as PromiseRejectedResult).reason
  t.ok(reason instanceof QueryFailedError, 'the error is a QueryFailedError')
  t.match(String(reason.message), /ck_messages_status|CHECK constraint/i)
  t.equal(executor.stats.batches, 1)
  const rows = await executor.read<{ id: string }>(
    placeholders(store, `SELECT id FROM ${table(store)} WHERE id IN (?, ?, ?) ORDER BY id`),
    [good1, bad, good2],
  )
  t.same(rows.map((r) => r.id).sort(), [good1, good2].sort(), 'the others were committed')
})

eachBackend(
  t,
  'batched values arrive exactly as given (quotes, backslashes, placeholders, unicode)',
  async (t: Test, backend) => {
    const store = await testStore(t, backend)
    const { messages, executor } = inspectable(t, store)
    const texts = [
      "it's",
      'back\\slash \\\' and "double" quotes',
      '$1 $2 ? :id -- not a comment /* nor this */',
      "'); DROP TABLE messages; --",
      'emoji 🎉 and ünïcödé and tab\tand\nnewline',
      '',
      'x'.repeat(100_000),
    ]
    const records = texts.map((text, i) =>
      outbound({ text, dedupKey: `key-$${i}-'"\\`, replyTo: `re-'${i}'`, bot: `b\\${i}` }),
    )
    const results = await Promise.all(records.map((r) => messages.createOutbound(r)))
    t.ok(executor.stats.batches >= 1, 'written as a batch')
    t.equal(executor.stats.retriedAlone, 0, 'committed as a batch, not retried one by one')
    await Promise.all(
      records.map((r) => messages.markSent(r.id, { remoteId: `r'$1\\${r.id}`, attempts: 2 })),
    )
    for (const [i, r] of records.entries()) {
      t.equal(results[i]?.created, true)
      const stored = await messages.get(r.id)
      t.equal(stored?.text, r.text)
      t.equal(stored?.dedupKey, r.dedupKey)
      t.equal(stored?.replyTo, r.replyTo)
      t.equal(stored?.bot, r.bot)
      t.equal(stored?.remoteId, `r'$1\\${r.id}`)
      t.equal(stored?.attempts, 2)
      t.equal(stored?.status, 'sent')
    }
  },
)

eachBackend(t, 'close completes writes already issued', async (t: Test, backend) => {
  const { config, cleanup } = await freshDatabase(backend)
  t.teardown(cleanup)
  const store = await openStore(config)
  const records = Array.from({ length: 20 }, () => inbound())
  const pending = records.map((r) => store.messages.recordInbound(r))
  await store.close()
  const results = await Promise.all(pending)
  t.ok(results.every((r) => r.created))
  const reopened = await openStore(config)
  t.teardown(() => reopened.close())
  for (const r of records) t.equal((await reopened.messages.get(r.id))?.id, r.id)
})

t.test('SQLite: a lone write is not held back for other writes', async (t) => {
  const store = await testStore(t, 'sqlite')
  const { messages, executor } = inspectable(t, store)
  let turnEnded = false
  setImmediate(() => {
    turnEnded = true
  })
  const { created } = await messages.recordInbound(inbound())
  t.equal(created, true)
  t.equal(turnEnded, false, 'committed within the same turn of the event loop')
  t.equal(executor.stats.batches, 0, 'alone: no batch transaction')
  t.equal(executor.stats.writes, 1)
})

t.test('SQLite: a read sees the writes issued before it', async (t) => {
  const store = await testStore(t, 'sqlite')
  const record = outbound()
  const write = store.messages.createOutbound(record)
  const read = store.messages.get(record.id)
  t.equal((await read)?.id, record.id)
  t.equal((await write).created, true)
})

t.test('SQLite: a locked database fails every caller of a batch as unavailable', async (t) => {
  const { config, cleanup } = await freshDatabase('sqlite')
  t.teardown(cleanup)
  const store = await openStore({ ...config, sqliteBusyTimeoutMs: 50 })
  t.teardown(() => store.close())
  const other = createDataSource(config)
  await other.initialize()
  t.teardown(() => other.destroy())
  await other.query('BEGIN IMMEDIATE')
  const results = await Promise.allSettled([
    store.messages.recordInbound(inbound()),
    store.messages.recordInbound(inbound()),
    store.messages.createOutbound(outbound()),
  ])
  for (const r of results) {
    t.match(r, { status: 'rejected', reason: { code: 'PARLEY_ERR_STORE_UNAVAILABLE' } })
  }
  await other.query('ROLLBACK')
  const again = await Promise.all([
    store.messages.recordInbound(inbound()),
    store.messages.createOutbound(outbound()),
  ])
  t.ok(
    again.every((r) => r.created),
    'writes go through once the lock is released',
  )
})

eachBackend(t, 'a closed executor rejects calls', async (t: Test, backend) => {
  const store = await testStore(t, backend)
  const executor = createExecutor(store.dataSource)
  await executor.close()
  await executor.close()
  await t.rejects(executor.write('SELECT 1', []), /closed/)
  await t.rejects(executor.read('SELECT 1', []), /closed/)
})
