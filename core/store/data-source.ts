import path from 'node:path'
import { DataSource } from 'typeorm'
import { migrations } from '../../migrations/index.js'
import { parleyError } from '../contract/errors.js'
import type { Logger } from '../contract/plugin.js'
import { entities } from './entities/index.js'
import { SLOW_QUERY_MS, StoreLogger } from './typeorm-logger.js'

/** Where the embedded database lives when neither `url` nor `sqlitePath` says otherwise. */
export const DEFAULT_SQLITE_PATH = './data/parley.sqlite'
/** The table TypeORM records applied migrations in. */
export const MIGRATIONS_TABLE = 'parley_migrations'
/** How long a SQLite write waits for another writer's lock before SQLITE_BUSY, by default. */
export const SQLITE_BUSY_TIMEOUT_MS = 5000

export type StoreDriver = 'postgres' | 'better-sqlite3'

export interface DataSourceConfig {
  /**
   * `postgres://…` or `postgresql://…` selects PostgreSQL; `sqlite:PATH`
   * (`sqlite:./x.sqlite`, `sqlite:///var/lib/parley/x.sqlite`, `sqlite::memory:`)
   * selects SQLite at PATH. Unset or empty: SQLite at `sqlitePath`.
   */
  url?: string
  /** @defaultValue `./data/parley.sqlite` (relative to the working directory; the folder is created) */
  sqlitePath?: string
  /** PostgreSQL only: the schema holding Parley's tables. @defaultValue the server's default (`public`) */
  schema?: string
  /**
   * Log every SQL statement: at debug level through `logger` when one is
   * given, else on the console (TypeORM's logger). @defaultValue false
   */
  logging?: boolean
  /** Receives TypeORM's messages (slow statements, schema and migration steps). @defaultValue silent */
  logger?: Logger
  /** PostgreSQL only: connections in the pool. @defaultValue 10 */
  poolSize?: number
  /**
   * SQLite only: how long a write waits for another process's write lock
   * before failing with SQLITE_BUSY. better-sqlite3 is synchronous, so the
   * wait blocks the event loop. @defaultValue 5000
   */
  sqliteBusyTimeoutMs?: number
}

export type ResolvedTarget =
  | { driver: 'postgres'; url: string; schema?: string }
  | { driver: 'better-sqlite3'; database: string }

const SQLITE_URL = /^sqlite:(?:\/\/)?(.+)$/

/** Decides the driver and location from the config, without connecting. */
export function resolveTarget(config: DataSourceConfig): ResolvedTarget {
  const url = config.url?.trim()
  if (url && /^postgres(?:ql)?:\/\//i.test(url)) {
    return config.schema
      ? { driver: 'postgres', url, schema: config.schema }
      : { driver: 'postgres', url }
  }
  if (url) {
    const sqlite = SQLITE_URL.exec(url)
    // A URL for another database must not silently fall back to a local file.
    if (!sqlite?.[1]) {
      throw parleyError(
        'PARLEY_ERR_CONFIG',
        `database url must start with postgres://, postgresql:// or sqlite: (got '${redactUrl(url)}')`,
      )
    }
    return { driver: 'better-sqlite3', database: sqlitePathOf(sqlite[1]) }
  }
  return {
    driver: 'better-sqlite3',
    database: sqlitePathOf(config.sqlitePath ?? DEFAULT_SQLITE_PATH),
  }
}

function sqlitePathOf(value: string): string {
  return value === ':memory:' ? value : path.resolve(value)
}

/** The URL with any password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@')
}

/**
 * Pragmas for a server workload: WAL lets readers run beside the one writer,
 * synchronous=NORMAL is durable across process crashes in WAL mode (only an OS
 * crash can lose the last transactions) at a fraction of FULL's fsyncs, and
 * busy_timeout makes a second process wait for the write lock instead of
 * failing at once. better-sqlite3 also sets busy_timeout from `timeout`; it is
 * repeated here so the value is visible in one place.
 */
export function prepareSqlite(
  db: { pragma(source: string): unknown },
  busyTimeoutMs = SQLITE_BUSY_TIMEOUT_MS,
): void {
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`)
  db.pragma('temp_store = MEMORY')
  // Keep the WAL file from growing without bound after a burst (64 MiB).
  db.pragma('journal_size_limit = 67108864')
  // Message ids and dedup keys are random, so writes touch pages all over the
  // indexes: a 64 MiB page cache and a checkpoint every 10,000 WAL pages
  // (instead of 1,000) cut the store's cost per message by about a quarter
  // (bench/store: 8.6k -> 11.4k cycles/s with 32 in flight).
  db.pragma('cache_size = -65536')
  db.pragma('wal_autocheckpoint = 10000')
}

/**
 * Builds (does not initialise) the DataSource for Parley's store.
 * Never synchronizes: the schema changes only through `migrations/`.
 */
export function createDataSource(config: DataSourceConfig = {}): DataSource {
  const target = resolveTarget(config)
  const common = {
    entities,
    migrations,
    migrationsTableName: MIGRATIONS_TABLE,
    migrationsRun: false,
    synchronize: false,
    maxQueryExecutionTime: SLOW_QUERY_MS,
    ...(config.logging && !config.logger
      ? { logging: true, logger: 'advanced-console' as const }
      : { logging: true, logger: new StoreLogger(config.logger, config.logging ?? false) }),
  }
  if (target.driver === 'postgres') {
    return new DataSource({
      ...common,
      type: 'postgres',
      url: target.url,
      ...(target.schema ? { schema: target.schema } : {}),
      applicationName: 'parley',
      poolSize: config.poolSize ?? 10,
      connectTimeoutMS: 5000,
    })
  }
  const busyTimeoutMs = config.sqliteBusyTimeoutMs ?? SQLITE_BUSY_TIMEOUT_MS
  return new DataSource({
    ...common,
    type: 'better-sqlite3',
    database: target.database,
    timeout: busyTimeoutMs,
    prepareDatabase: (db: { pragma(source: string): unknown }) => prepareSqlite(db, busyTimeoutMs),
  })
}
