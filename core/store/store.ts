import type { DataSource } from 'typeorm'
import { parleyError } from '../contract/errors.js'
import type { Logger, PluginStateStore } from '../contract/plugin.js'
import { type ApiKeyStore, createApiKeyStore } from './api-key-store.js'
import { type ContactStore, createContactStore } from './contact-store.js'
import {
  createDataSource,
  type DataSourceConfig,
  resolveTarget,
  type StoreDriver,
} from './data-source.js'
import { createExecutor, type GroupCommitOptions } from './group-commit.js'
import { createIdentityStore, type IdentityStore } from './identity-store.js'
import { createMessageStore, type MessageStore } from './message-store.js'
import { runMigrations } from './migrate.js'
import { createPluginStateStore } from './plugin-state-store.js'
import { createPolicyStore, type PolicyStore } from './policy-store.js'
import { createPresenceStore, type PresenceStore } from './presence-store.js'
import { isStoreUnavailable, toStoreError } from './store-errors.js'

export interface StoreOptions extends DataSourceConfig {
  /** Receives one line per migration applied and the store's lifecycle. */
  log?: Logger
  /** Apply pending migrations while opening. @defaultValue true */
  migrate?: boolean
  /** Group commit of the message hot path (batch size, PostgreSQL lanes). */
  groupCommit?: GroupCommitOptions
}

/**
 * Parley's database. Every method returns plain objects. A method whose
 * database cannot be reached rejects with PARLEY_ERR_STORE_UNAVAILABLE
 * (retryable, cause attached); other failures come through unchanged.
 */
export interface Store {
  readonly driver: StoreDriver
  /** The TypeORM DataSource, for what the store does not cover (health checks, tests). */
  readonly dataSource: DataSource
  readonly messages: MessageStore
  readonly identities: IdentityStore
  readonly contacts: ContactStore
  /** Last known presence (the database copy). */
  readonly presence: PresenceStore
  /** API keys, stored hashed (not enforced on routes yet; see docs/security.md). */
  readonly apiKeys: ApiKeyStore
  /** The federation policy's versions (the newest is in force). */
  readonly policies: PolicyStore
  /** The key/value store for plugin `plugin` (its `ctx.state`). */
  pluginState(plugin: string): PluginStateStore
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>
  /** Closes the connection(s); idempotent. */
  close(): Promise<void>
}

function rethrow(error: unknown): never {
  throw toStoreError(error)
}

/** Wraps every method of `api` so an unreachable database surfaces as PARLEY_ERR_STORE_UNAVAILABLE. */
function guard<T extends object>(api: T): T {
  const wrapped: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(api)) {
    wrapped[name] =
      typeof value === 'function'
        ? (...args: unknown[]) =>
            (value as (...a: unknown[]) => Promise<unknown>)(...args).catch(rethrow)
        : value
  }
  return wrapped as T
}

/**
 * Connects to the database `options` name (PostgreSQL for a postgres:// url,
 * else SQLite) and applies pending migrations (creating the PostgreSQL
 * `schema` first if it is given and missing). Rejects with PARLEY_ERR_STORE_UNAVAILABLE
 * when the database cannot be reached and PARLEY_ERR_MIGRATION when a
 * migration fails; nothing is left open on failure.
 */
export async function openStore(options: StoreOptions = {}): Promise<Store> {
  const { log } = options
  const target = resolveTarget(options)
  const ds = createDataSource({ ...options, logger: options.logger ?? log })
  try {
    await ds.initialize()
  } catch (error) {
    throw toStoreError(error)
  }
  if (options.migrate !== false) {
    let applied: string[]
    try {
      applied = await runMigrations(ds)
    } catch (error) {
      await ds.destroy().catch(() => undefined)
      if (isStoreUnavailable(error)) throw toStoreError(error)
      const failed = parleyError('PARLEY_ERR_MIGRATION', (error as Error).message)
      ;(failed as Error).cause = error
      throw failed
    }
    for (const migration of applied) log?.info({ migration }, 'migration applied')
  }
  log?.info(
    target.driver === 'postgres'
      ? { driver: target.driver, schema: target.schema ?? 'public' }
      : { driver: target.driver, database: target.database },
    'store open',
  )

  const executor = createExecutor(ds, options.groupCommit)
  let closing: Promise<void> | undefined
  return {
    driver: target.driver,
    dataSource: ds,
    messages: guard(createMessageStore(ds, executor)),
    identities: guard(createIdentityStore(ds)),
    contacts: guard(createContactStore(ds)),
    presence: guard(createPresenceStore(ds)),
    apiKeys: guard(createApiKeyStore(ds)),
    policies: guard(createPolicyStore(ds)),
    pluginState: (plugin) => guard(createPluginStateStore(ds, plugin)),
    async ping() {
      await ds.query('SELECT 1').catch(rethrow)
    },
    close() {
      // Queued writes land before the connection goes.
      closing ??= executor.close().then(() => (ds.isInitialized ? ds.destroy() : undefined))
      return closing
    },
  }
}
