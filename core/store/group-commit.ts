import { createHash } from 'node:crypto'
import type BetterSqlite3 from 'better-sqlite3'
import pg from 'pg'
import { type DataSource, QueryFailedError } from 'typeorm'
import { isStoreUnavailable } from './store-errors.js'
import { SLOW_QUERY_MS } from './typeorm-logger.js'

/**
 * Runs the store's hot statements on the driver underneath TypeORM, with
 * group commit: writes issued together share one transaction (one WAL append
 * on SQLite, one commit and fsync on PostgreSQL), and each caller still gets
 * its own result or error.
 *
 * - A write issued alone is run at once (at the end of the current
 *   microtask checkpoint): no added latency.
 * - SQLite: once a batch has been committed in this turn of the event loop
 *   (there is load), later writes wait for the end of the turn (setImmediate)
 *   and are committed together. PostgreSQL: while a batch is in flight on
 *   every lane, new writes queue and go together in the next transaction.
 * - A statement that fails inside a batch: on SQLite, when the transaction
 *   is still open (constraint, check: SQLite undoes that statement only),
 *   only its caller fails and the rest commit. Otherwise (a PostgreSQL
 *   statement error aborts the transaction, or the commit fails) the batch
 *   is rolled back and each write is retried alone, so only the culprit
 *   fails. When the database is unavailable every caller gets the error (a
 *   commit with an unknown outcome is never retried).
 *
 * Writes and reads issued before `close()` are completed by it.
 */
export interface StatementExecutor {
  /** Runs an INSERT/UPDATE/DELETE; resolves with the number of rows it changed. */
  write(sql: string, parameters: unknown[]): Promise<number>
  /** Runs a SELECT; resolves with its rows as plain objects. */
  read<R>(sql: string, parameters: unknown[]): Promise<R[]>
  /** Completes every pending write; later calls reject. */
  close(): Promise<void>
  /** Counters since creation, for tests and diagnostics. */
  readonly stats: GroupCommitStats
}

export interface GroupCommitStats {
  /** Writes resolved or rejected. */
  writes: number
  /** Transactions that carried more than one write. */
  batches: number
  /** Writes run alone again after their batch failed. */
  retriedAlone: number
}

export interface GroupCommitOptions {
  /** Most writes per transaction. @defaultValue 256 */
  maxBatch?: number
  /** PostgreSQL: transactions in flight at once (connections used). @defaultValue 2 */
  lanes?: number
}

interface Pending {
  sql: string
  parameters: unknown[]
  resolve(changes: number): void
  reject(error: unknown): void
}

const DEFAULT_MAX_BATCH = 256
const DEFAULT_LANES = 2
const { escapeLiteral } = pg

function queryFailed(sql: string, parameters: unknown[], error: unknown): unknown {
  return error instanceof Error ? new QueryFailedError(sql, parameters, error) : error
}

function closedError(): Error {
  return new Error('the store is closed')
}

/** The executor for `ds`'s driver (better-sqlite3 or postgres). */
export function createExecutor(
  ds: DataSource,
  options: GroupCommitOptions = {},
): StatementExecutor {
  if (ds.options.type === 'better-sqlite3') return new SqliteExecutor(ds, options)
  if (ds.options.type === 'postgres') return new PostgresExecutor(ds, options)
  throw new Error(`no statement executor for driver ${ds.options.type}`)
}

class SqliteExecutor implements StatementExecutor {
  readonly stats: GroupCommitStats = { writes: 0, batches: 0, retriedAlone: 0 }
  private queue: Pending[] = []
  private scheduled = false
  /** Batches committed in the current turn of the event loop. */
  private flushesThisTurn = 0
  private turnMarked = false
  private closed = false
  private db: BetterSqlite3.Database | undefined
  private statements = new Map<string, BetterSqlite3.Statement>()
  private readonly maxBatch: number
  private transaction:
    | BetterSqlite3.Transaction<(batch: Pending[]) => (number | { error: unknown })[]>
    | undefined

  constructor(
    private readonly ds: DataSource,
    options: GroupCommitOptions,
  ) {
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH
  }

  /** Runs `batch` in one IMMEDIATE transaction (rolled back if it throws). */
  private runBatch(batch: Pending[]): (number | { error: unknown })[] {
    const db = this.connection()
    this.transaction ??= db.transaction(this.batchBody)
    return this.transaction.immediate(batch)
  }

  private readonly batchBody = (batch: Pending[]) => {
    const db = this.connection()
    return batch.map((p) => {
      try {
        return this.statement(p.sql).run(...p.parameters).changes
      } catch (error) {
        // SQLite undid this statement only; anything else ended the transaction.
        if (!db.inTransaction) throw error
        return { error }
      }
    })
  }

  /** The better-sqlite3 Database TypeORM opened (re-prepared if it changed). */
  private connection(): BetterSqlite3.Database {
    const db = (this.ds.driver as unknown as { databaseConnection?: BetterSqlite3.Database })
      .databaseConnection
    if (!db?.open || !this.ds.isInitialized) throw closedError()
    if (db !== this.db) {
      this.db = db
      this.statements.clear()
      this.transaction = undefined
    }
    return db
  }

  private statement(sql: string): BetterSqlite3.Statement {
    let statement = this.statements.get(sql)
    if (!statement) {
      statement = this.connection().prepare(sql)
      this.statements.set(sql, statement)
    }
    return statement
  }

  write(sql: string, parameters: unknown[]): Promise<number> {
    if (this.closed) return Promise.reject(closedError())
    return new Promise((resolve, reject) => {
      this.queue.push({ sql, parameters, resolve, reject })
      if (this.scheduled) return
      this.scheduled = true
      // Alone in this turn: commit right after the current microtasks. Not
      // alone: let the rest of the turn's writes join.
      if (this.flushesThisTurn === 0) queueMicrotask(this.flush)
      else setImmediate(this.flush)
    })
  }

  async read<R>(sql: string, parameters: unknown[]): Promise<R[]> {
    if (this.closed) throw closedError()
    this.flush() // a read sees every write issued before it
    this.ds.logger.logQuery(sql, parameters)
    try {
      return this.statement(sql).all(...parameters) as R[]
    } catch (error) {
      throw queryFailed(sql, parameters, error)
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.flush()
    this.closed = true
  }

  private readonly endTurn = () => {
    this.flushesThisTurn = 0
    this.turnMarked = false
  }

  private readonly flush = () => {
    this.scheduled = false
    while (this.queue.length > 0) {
      const batch =
        this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch)
      this.queue = batch === this.queue ? [] : this.queue.slice(batch.length)
      this.flushesThisTurn++
      if (!this.turnMarked) {
        this.turnMarked = true
        setImmediate(this.endTurn)
      }
      this.commit(batch)
    }
  }

  private runAlone(p: Pending): void {
    try {
      p.resolve(this.statement(p.sql).run(...p.parameters).changes)
    } catch (error) {
      p.reject(queryFailed(p.sql, p.parameters, error))
    }
  }

  private commit(batch: Pending[]): void {
    const logger = this.ds.logger
    for (const p of batch) logger.logQuery(p.sql, p.parameters)
    const start = performance.now()
    this.stats.writes += batch.length
    if (batch.length === 1) {
      this.runAlone(batch[0] as Pending)
    } else {
      this.stats.batches++
      let results: (number | { error: unknown })[]
      try {
        results = this.runBatch(batch)
      } catch (error) {
        // Rolled back as a whole: nothing of it applied.
        if (isStoreUnavailable(error)) {
          for (const p of batch) p.reject(queryFailed(p.sql, p.parameters, error))
        } else {
          this.stats.retriedAlone += batch.length
          for (const p of batch) this.runAlone(p)
        }
        return
      }
      results.forEach((result, i) => {
        const p = batch[i] as Pending
        if (typeof result === 'number') p.resolve(result)
        else p.reject(queryFailed(p.sql, p.parameters, result.error))
      })
    }
    const ms = performance.now() - start
    if (ms > SLOW_QUERY_MS) {
      logger.logQuerySlow(Math.round(ms), `${batch.length} statement(s): ${batch[0]?.sql}`)
    }
  }
}

/** `value` as an SQL literal, or undefined when it is not a plain string/integer/null. */
function literal(value: unknown): string | undefined {
  if (value === null || value === undefined) return 'NULL'
  if (typeof value === 'string') return escapeLiteral(value)
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  return undefined
}

/**
 * `sql` with each `$n` outside quotes replaced by parameter n as a literal;
 * undefined if a value cannot be written as one (the batch then runs its
 * statements one by one).
 */
function inline(sql: string, parameters: unknown[]): string | undefined {
  let out = ''
  let i = 0
  while (i < sql.length) {
    const c = sql[i] as string
    if (c === '"' || c === "'") {
      const close = sql.indexOf(c, i + 1)
      if (close < 0) return undefined
      out += sql.slice(i, close + 1)
      i = close + 1
    } else if (c === '$') {
      const digits = /^\d+/.exec(sql.slice(i + 1))
      if (!digits) return undefined
      const value = literal(parameters[Number(digits[0]) - 1])
      if (value === undefined) return undefined
      out += value
      i += 1 + digits[0].length
    } else {
      out += c
      i++
    }
  }
  return out
}

function batchText(batch: Pending[]): string | undefined {
  const statements: string[] = []
  for (const p of batch) {
    const text = inline(p.sql, p.parameters)
    if (text === undefined) return undefined
    statements.push(text)
  }
  return statements.join(';\n')
}

/** A stable server-side name for `sql`, so each connection parses and plans it once. */
function statementName(cache: Map<string, string>, sql: string): string {
  let name = cache.get(sql)
  if (!name) {
    name = `parley_${createHash('sha1').update(sql).digest('hex').slice(0, 24)}`
    cache.set(sql, name)
  }
  return name
}

class PostgresExecutor implements StatementExecutor {
  readonly stats: GroupCommitStats = { writes: 0, batches: 0, retriedAlone: 0 }
  private queue: Pending[] = []
  private scheduled = false
  private inFlight = 0
  private closed = false
  private idle: (() => void)[] = []
  private readonly names = new Map<string, string>()
  private readonly maxBatch: number
  private readonly lanes: number

  constructor(
    private readonly ds: DataSource,
    options: GroupCommitOptions,
  ) {
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH
    this.lanes = Math.max(1, options.lanes ?? DEFAULT_LANES)
  }

  private pool(): pg.Pool {
    const pool = (this.ds.driver as unknown as { master?: pg.Pool }).master
    if (!pool || !this.ds.isInitialized) throw closedError()
    return pool
  }

  private config(sql: string, parameters: unknown[]): pg.QueryConfig {
    return { name: statementName(this.names, sql), text: sql, values: parameters }
  }

  write(sql: string, parameters: unknown[]): Promise<number> {
    if (this.closed) return Promise.reject(closedError())
    return new Promise((resolve, reject) => {
      this.queue.push({ sql, parameters, resolve, reject })
      if (!this.scheduled) {
        this.scheduled = true
        queueMicrotask(this.pump)
      }
    })
  }

  async read<R>(sql: string, parameters: unknown[]): Promise<R[]> {
    if (this.closed) throw closedError()
    this.ds.logger.logQuery(sql, parameters)
    try {
      const result = await this.pool().query(this.config(sql, parameters))
      return result.rows as R[]
    } catch (error) {
      throw queryFailed(sql, parameters, error)
    }
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.queue.length === 0 && this.inFlight === 0) return
    await new Promise<void>((resolve) => this.idle.push(resolve))
  }

  private readonly pump = () => {
    this.scheduled = false
    while (this.inFlight < this.lanes && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch)
      this.inFlight++
      void this.commit(batch).finally(() => {
        this.inFlight--
        this.pump()
      })
    }
    if (this.queue.length === 0 && this.inFlight === 0) {
      for (const resolve of this.idle.splice(0)) resolve()
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    const logger = this.ds.logger
    for (const p of batch) logger.logQuery(p.sql, p.parameters)
    let client: pg.PoolClient
    try {
      client = await this.pool().connect()
    } catch (error) {
      this.stats.writes += batch.length
      for (const p of batch) p.reject(queryFailed(p.sql, p.parameters, error))
      return
    }
    let broken: unknown
    // A connection lost while checked out is an 'error' event on the client
    // (pg's pool only listens on idle ones): unheard, it would end the
    // process. The query in flight rejects anyway; this only keeps the event.
    const onError = (error: Error) => {
      broken ??= error
    }
    client.on('error', onError)
    const start = performance.now()
    try {
      if (batch.length === 1) {
        broken = await this.runAlone(client, batch[0] as Pending)
        return
      }
      // One round trip: the statements, values inlined, as one multi-statement
      // simple query, which PostgreSQL runs as one implicit transaction
      // (all or nothing, one commit).
      this.stats.batches++
      const text = batchText(batch)
      if (text !== undefined) {
        let results: pg.QueryResult[] | undefined
        try {
          const result = (await client.query(text)) as unknown as pg.QueryResult | pg.QueryResult[]
          results = Array.isArray(result) ? result : [result]
        } catch (error) {
          if (isStoreUnavailable(error)) {
            // Maybe committed, maybe not: never retried.
            broken = error
            for (const p of batch) p.reject(queryFailed(p.sql, p.parameters, error))
            return
          }
          // A statement failed: the implicit transaction rolled back, nothing applied.
        }
        if (results) {
          const counts = results
          batch.forEach((p, i) => {
            const r = counts[i]
            if (counts.length === batch.length && r) p.resolve(r.rowCount ?? 0)
            else p.reject(new Error(`batch of ${batch.length} returned ${counts.length} results`))
          })
          return
        }
      }
      // Nothing applied: each write alone, so only the culprit fails.
      this.stats.retriedAlone += batch.length
      for (const p of batch) {
        if (broken) p.reject(queryFailed(p.sql, p.parameters, broken))
        else broken = await this.runAlone(client, p)
      }
    } finally {
      this.stats.writes += batch.length
      client.off('error', onError)
      // A client whose connection is broken is destroyed, not returned to the pool.
      client.release(broken instanceof Error ? broken : undefined)
      const ms = performance.now() - start
      if (ms > SLOW_QUERY_MS) {
        logger.logQuerySlow(Math.round(ms), `${batch.length} statement(s): ${batch[0]?.sql}`)
      }
    }
  }

  /** Runs one write in its own transaction; returns the error when the connection is unusable. */
  private async runAlone(client: pg.PoolClient, p: Pending): Promise<unknown> {
    try {
      const result = await client.query(this.config(p.sql, p.parameters))
      p.resolve(result.rowCount ?? 0)
      return undefined
    } catch (error) {
      p.reject(queryFailed(p.sql, p.parameters, error))
      return isStoreUnavailable(error) ? error : undefined
    }
  }
}
