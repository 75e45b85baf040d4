import { createHash } from 'node:crypto'
import { type DataSource, MigrationExecutor } from 'typeorm'

export interface MigrationState {
  name: string
  applied: boolean
  /** false for a migration recorded in the database but absent from `migrations/` (applied by a newer Parley). */
  known: boolean
}

/**
 * Holds a PostgreSQL session-level advisory lock while `work` runs, so two
 * hosts starting at once do not both apply the same migration: the second
 * waits, then finds nothing pending. The key is per schema, so test runs in
 * separate schemas do not wait for each other. SQLite needs no lock: the
 * migration's write transaction already excludes other writers.
 */
async function withMigrationLock<T>(ds: DataSource, work: () => Promise<T>): Promise<T> {
  if (ds.options.type !== 'postgres') return work()
  const schema = ds.options.schema ?? 'public'
  const key = createHash('sha256').update(`parley-migrations:${schema}`).digest().readBigInt64BE(0)
  const runner = ds.createQueryRunner()
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [key.toString()])
    try {
      return await work()
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [key.toString()])
    }
  } finally {
    await runner.release()
  }
}

/**
 * Applies every pending migration, each in its own transaction, oldest
 * first, creating the PostgreSQL schema first if the DataSource names one
 * that does not exist. Resolves with the names applied (empty when the
 * schema is current).
 */
export async function runMigrations(ds: DataSource): Promise<string[]> {
  return withMigrationLock(ds, async () => {
    // Inside the lock: concurrent CREATE SCHEMA IF NOT EXISTS can still collide in PostgreSQL.
    if (ds.options.type === 'postgres' && ds.options.schema) {
      await ds.query(`CREATE SCHEMA IF NOT EXISTS ${ds.driver.escape(ds.options.schema)}`)
    }
    const applied = await ds.runMigrations({ transaction: 'each' })
    return applied.map((m) => m.name)
  })
}

/** Reverts the most recently applied migration. Resolves with its name, or undefined if none was applied. */
export async function revertLastMigration(ds: DataSource): Promise<string | undefined> {
  return withMigrationLock(ds, async () => {
    const executed = await new MigrationExecutor(ds).getExecutedMigrations()
    if (executed.length === 0) return undefined
    // getExecutedMigrations is ordered newest first (by id), which is what TypeORM reverts.
    const last = executed[0]?.name
    await ds.undoLastMigration({ transaction: 'each' })
    return last
  })
}

/** Every migration, oldest first, and whether it has been applied. */
export async function migrationStatus(ds: DataSource): Promise<MigrationState[]> {
  const executor = new MigrationExecutor(ds)
  const executed = new Set((await executor.getExecutedMigrations()).map((m) => m.name))
  const known = new Set(ds.migrations.map((m) => m.name ?? m.constructor.name))
  const names = [...new Set([...known, ...executed])]
  return names
    .sort((a, b) => timestampOf(a) - timestampOf(b))
    .map((name) => ({ name, applied: executed.has(name), known: known.has(name) }))
}

function timestampOf(name: string): number {
  return Number.parseInt(name.slice(-13), 10)
}
