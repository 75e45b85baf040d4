/**
 * `node --import tsx core/store/migrate-cli.ts up|down|status`
 *
 * DATABASE_URL selects the database (unset: SQLite at ./data/parley.sqlite),
 * DATABASE_SCHEMA a PostgreSQL schema. Prints one line per migration; on
 * failure prints one line `PARLEY_ERR_MIGRATION: …` and exits with 1
 * (2 for a usage error).
 */
import { parleyError } from '../contract/errors.js'
import { type CliOutput, databaseFromEnv, runAsEntryPoint } from './cli.js'
import { createDataSource } from './data-source.js'
import { migrationStatus, revertLastMigration, runMigrations } from './migrate.js'
import { isStoreUnavailable } from './store-errors.js'

const USAGE = 'usage: migrate-cli.ts up|down|status'

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: CliOutput): Promise<number> {
  const { out, err } = io
  const command = argv[0]
  if (argv.length !== 1 || !['up', 'down', 'status'].includes(command ?? '')) {
    err(USAGE)
    return 2
  }
  let ds: ReturnType<typeof createDataSource> | undefined
  try {
    const { config, line } = databaseFromEnv(env)
    out(line)
    ds = createDataSource(config)
    await ds.initialize()
    if (command === 'up') {
      const applied = await runMigrations(ds)
      for (const name of applied) out(`applied ${name}`)
      if (applied.length === 0) out('up to date: no pending migrations')
    } else if (command === 'down') {
      const reverted = await revertLastMigration(ds)
      out(reverted ? `reverted ${reverted}` : 'nothing to revert: no migration applied')
    } else {
      for (const m of await migrationStatus(ds)) {
        out(
          `${m.applied ? 'applied' : 'pending'} ${m.name}${m.known ? '' : ' (not in migrations/)'}`,
        )
      }
    }
    return 0
  } catch (error) {
    err(failureLine(error))
    return 1
  } finally {
    if (ds?.isInitialized) await ds.destroy().catch(() => undefined)
  }
}

function failureLine(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)) || String(error)
  const aggregate =
    error instanceof AggregateError ? error.errors.map((e: Error) => e.message).join('; ') : ''
  const reason = (aggregate || message).replace(/\s+/g, ' ').trim()
  const detail = isStoreUnavailable(error) ? `database unavailable: ${reason}` : reason
  const wrapped = parleyError('PARLEY_ERR_MIGRATION', detail)
  return `${wrapped.code}: ${wrapped.message}`
}

runAsEntryPoint(import.meta.url, main)
