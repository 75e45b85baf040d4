import type { Logger as TypeOrmLogger } from 'typeorm'
import type { Logger } from '../contract/plugin.js'

/** A statement slower than this is logged as a warning. */
export const SLOW_QUERY_MS = 1000

/**
 * Routes TypeORM's log calls to Parley's structured logger, so nothing is
 * printed to the console behind the host's back (TypeORM's own loggers print
 * migration messages even with `logging: false`). With no logger it is
 * silent: errors still reach callers as rejections.
 */
export class StoreLogger implements TypeOrmLogger {
  constructor(
    private readonly target: Logger | undefined,
    private readonly queries: boolean,
  ) {}

  logQuery(query: string, parameters?: unknown): void {
    if (this.queries) this.target?.debug({ query, parameters }, 'sql')
  }

  logQueryError(error: string | Error, query: string): void {
    if (this.queries) this.target?.debug({ err: String(error), query }, 'sql failed')
  }

  logQuerySlow(time: number, query: string): void {
    this.target?.warn({ ms: time, query }, 'slow sql')
  }

  logSchemaBuild(message: string): void {
    this.target?.debug({}, message)
  }

  logMigration(message: string): void {
    this.target?.debug({}, message)
  }

  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level === 'warn') this.target?.warn({}, String(message))
    else this.target?.debug({}, String(message))
  }
}
