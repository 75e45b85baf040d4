/**
 * bench/store: the message hot path (one cycle = recordInbound + markHandled +
 * createOutbound + markSent, as core/queue does per echoed message) through
 * (a) hand-written SQL with no store layer (better-sqlite3 prepared
 * statements, `pg` pool queries; each statement its own transaction) and
 * (b) the Store, on SQLite and on PostgreSQL, with 1 and 32 cycles in flight.
 * Prints cycles/s and the store/raw ratios; the last line is a one-line
 * summary. Not a test: it asserts nothing about speed.
 *
 * BENCH_SECONDS (2) per measurement; PARLEY_TEST_DATABASE_URL
 * (postgres://postgres@127.0.0.1:5432/test); BENCH_BACKENDS (sqlite,postgres).
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { prepareSqlite } from '../../core/store/data-source.js'
import { openStore, type Store } from '../../core/store/store.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2)
const PG_URL = process.env.PARLEY_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'sqlite,postgres').split(',')
const CONCURRENCY = [1, 32] as const

/** The four calls of one echoed message. */
interface Cycle {
  recordInbound(id: string, key: string, now: string): Promise<unknown>
  markHandled(id: string, now: string): Promise<unknown>
  createOutbound(id: string, replyTo: string, now: string): Promise<unknown>
  markSent(id: string, now: string): Promise<unknown>
}

const COLUMNS = [
  'id',
  'direction',
  'network',
  'dedup_key',
  'from_address',
  'to_address',
  'text',
  'status',
  'attempts',
  'remote_id',
  'reply_to',
  'error',
  'bot',
  'created_at',
  'updated_at',
]

function inboundRow(id: string, key: string, now: string): unknown[] {
  // biome-ignore format: one value per column
  return [id, 'in', 'xmpp', key, 'xmpp:alice@example.org', 'xmpp:echo@example.org', 'hello echo', 'received', 0, key, null, null, null, now, now]
}

function outboundRow(id: string, replyTo: string, now: string): unknown[] {
  // biome-ignore format: one value per column
  return [id, 'out', 'xmpp', null, 'xmpp:echo@example.org', 'xmpp:alice@example.org', 'hello echo', 'queued', 0, null, replyTo, null, 'echo', now, now]
}

function rawSqlite(file: string): { cycle: Cycle; close(): void } {
  const db = new Database(file)
  prepareSqlite(db)
  const insert = db.prepare(
    `INSERT INTO messages(${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')}) ON CONFLICT DO NOTHING`,
  )
  const handled = db.prepare(
    `UPDATE messages SET status = 'handled', updated_at = ? WHERE id = ? AND status IN ('received', 'failed') AND direction = 'in'`,
  )
  const sent = db.prepare(
    `UPDATE messages SET remote_id = ?, attempts = ?, status = 'sent', updated_at = ? WHERE id = ? AND status IN ('queued', 'failed') AND direction = 'out'`,
  )
  return {
    cycle: {
      async recordInbound(id, key, now) {
        return insert.run(...inboundRow(id, key, now)).changes
      },
      async markHandled(id, now) {
        return handled.run(now, id).changes
      },
      async createOutbound(id, replyTo, now) {
        return insert.run(...outboundRow(id, replyTo, now)).changes
      },
      async markSent(id, now) {
        return sent.run(`remote-${id}`, 1, now, id).changes
      },
    },
    close: () => db.close(),
  }
}

function rawPostgres(schema: string): { cycle: Cycle; close(): Promise<void> } {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 10 })
  const table = `"${schema}"."messages"`
  const insert = `INSERT INTO ${table}(${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT DO NOTHING`
  const handled = `UPDATE ${table} SET status = 'handled', updated_at = $1 WHERE id = $2 AND status IN ('received', 'failed') AND direction = 'in'`
  const sent = `UPDATE ${table} SET remote_id = $1, attempts = $2, status = 'sent', updated_at = $3 WHERE id = $4 AND status IN ('queued', 'failed') AND direction = 'out'`
  return {
    cycle: {
      async recordInbound(id, key, now) {
        return (await pool.query(insert, inboundRow(id, key, now))).rowCount
      },
      async markHandled(id, now) {
        return (await pool.query(handled, [now, id])).rowCount
      },
      async createOutbound(id, replyTo, now) {
        return (await pool.query(insert, outboundRow(id, replyTo, now))).rowCount
      },
      async markSent(id, now) {
        return (await pool.query(sent, [`remote-${id}`, 1, now, id])).rowCount
      },
    },
    close: () => pool.end(),
  }
}

function storeCycle(store: Store): Cycle {
  const m = store.messages
  return {
    recordInbound: (id, key) =>
      m.recordInbound({
        id,
        network: 'xmpp',
        dedupKey: key,
        from: 'xmpp:alice@example.org',
        to: 'xmpp:echo@example.org',
        text: 'hello echo',
        remoteId: key,
      }),
    markHandled: (id) => m.markHandled(id),
    createOutbound: (id, replyTo) =>
      m.createOutbound({
        id,
        network: 'xmpp',
        from: 'xmpp:echo@example.org',
        to: 'xmpp:alice@example.org',
        text: 'hello echo',
        replyTo,
        bot: 'echo',
      }),
    markSent: (id) => m.markSent(id, { remoteId: `remote-${id}`, attempts: 1 }),
  }
}

/**
 * Cycles per second with `concurrency` cycles in flight, for `seconds` (after a
 * short warm-up). Lanes check the clock themselves: a synchronous driver never
 * yields to timers.
 */
async function measure(cycle: Cycle, concurrency: number, seconds = SECONDS): Promise<number> {
  const run = async (ms: number) => {
    let done = 0
    const start = performance.now()
    const end = start + ms
    async function lane(): Promise<void> {
      while (performance.now() < end) {
        const now = new Date().toISOString()
        const inId = randomUUID()
        const key = `in-xmpp-alice-${inId}`
        await cycle.recordInbound(inId, key, now)
        await cycle.markHandled(inId, now)
        const outId = randomUUID()
        await cycle.createOutbound(outId, key, now)
        await cycle.markSent(outId, now)
        done++
      }
    }
    await Promise.all(Array.from({ length: concurrency }, lane))
    return done / ((performance.now() - start) / 1000)
  }
  await run(Math.min(500, seconds * 250))
  return run(seconds * 1000)
}

interface Row {
  backend: string
  concurrency: number
  raw: number
  store: number
}

async function benchSqlite(rows: Row[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-store-'))
  try {
    const store = await openStore({ sqlitePath: join(dir, 'store.sqlite') })
    const rawStore = await openStore({ sqlitePath: join(dir, 'raw.sqlite') })
    await rawStore.close()
    const raw = rawSqlite(join(dir, 'raw.sqlite'))
    for (const concurrency of CONCURRENCY) {
      const r = await measure(raw.cycle, concurrency)
      const s = await measure(storeCycle(store), concurrency)
      rows.push({ backend: 'sqlite', concurrency, raw: r, store: s })
    }
    raw.close()
    await store.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function benchPostgres(rows: Row[]): Promise<void> {
  const schema = `parley_bench_${randomBytes(4).toString('hex')}`
  const store = await openStore({ url: PG_URL, schema })
  const raw = rawPostgres(schema)
  try {
    for (const concurrency of CONCURRENCY) {
      const r = await measure(raw.cycle, concurrency)
      const s = await measure(storeCycle(store), concurrency)
      rows.push({ backend: 'postgres', concurrency, raw: r, store: s })
    }
  } finally {
    await raw.close()
    await store.dataSource.query(`DROP SCHEMA "${schema}" CASCADE`).catch(() => undefined)
    await store.close()
  }
}

const rows: Row[] = []
if (BACKENDS.includes('sqlite')) await benchSqlite(rows)
if (BACKENDS.includes('postgres')) await benchPostgres(rows)

const fmt = (x: number) => Math.round(x).toString()
const ratio = (r: Row) => (r.store / r.raw).toFixed(2)
console.log('backend   conc   raw cycles/s   store cycles/s   store/raw')
for (const r of rows) {
  console.log(
    `${r.backend.padEnd(9)} ${String(r.concurrency).padStart(4)} ${fmt(r.raw).padStart(14)} ${fmt(r.store).padStart(16)} ${ratio(r).padStart(11)}`,
  )
}
const summary = (backend: string) => {
  const mine = rows.filter((r) => r.backend === backend)
  if (mine.length === 0) return `${backend}: skipped`
  return `${backend}: ${mine
    .map((r) => `c${r.concurrency} ${ratio(r)} (store ${fmt(r.store)}/s, raw ${fmt(r.raw)}/s)`)
    .join(', ')}`
}
console.log(`store ratio ${summary('sqlite')}; ${summary('postgres')}`)
