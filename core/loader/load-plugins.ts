import type { FastifyBaseLogger as PinoLogger } from 'fastify'
import type { PluginEntry } from '../config/schema.js'
import {
  type Connection,
  type InboundEvent,
  type Logger,
  type PluginDefinition,
  type PluginStateStore,
  type ProfileDefinition,
  parleyError,
  type RosterEntry,
} from '../contract/index.js'
import type { NetworkRegistry } from './network-registry.js'
import { importDefault, moduleSpecifier } from './resolve-module.js'
import { redactOptions, validateManifest, validateOptions } from './validate-plugin.js'

export interface PluginHostDeps {
  rootDir: string
  log: PinoLogger
  registry: NetworkRegistry
  /** The inbound sink: validates and durably queues an event for `network`. */
  accept(network: string, event: InboundEvent): Promise<void>
  /** The roster sink: keeps the identity's contacts in step with what `network` reported. */
  roster(
    network: string,
    identity: string,
    entries: RosterEntry[],
    complete: boolean,
  ): Promise<void>
  stateFor(plugin: string): PluginStateStore
  signal: AbortSignal
}

export interface LoadedPlugin {
  name: string
  definition: PluginDefinition
  /** The current connection (replaced by `renew()`). */
  connection: Connection
  /**
   * Creates a fresh connection in place of a stopped one (a connection is
   * started at most once): used when this process owns the network again
   * after losing its lease.
   */
  renew(): Connection
}

/**
 * Imports, validates and creates every enabled plugin. A plugin that fails
 * to import or to create stays in the registry as `failed` with the reason;
 * invalid options are a configuration error and are thrown (the host must
 * not start half-configured).
 */
export async function loadPlugins(
  entries: PluginEntry[],
  deps: PluginHostDeps,
): Promise<LoadedPlugin[]> {
  const loaded: LoadedPlugin[] = []
  for (const entry of entries.filter((e) => e.enabled)) {
    const network = deps.registry.add(entry.name, redactOptions(entry.options))
    let definition: PluginDefinition
    let profile: ProfileDefinition | undefined
    try {
      const imported = await importDefault(
        moduleSpecifier(deps.rootDir, 'plugins', entry.name, entry.module),
      )
      profile = isProfile(imported) ? imported : undefined
      definition = profile
        ? await composeProfile(profile, entry.name, deps.rootDir)
        : validateManifest(imported, entry.name)
    } catch (error) {
      const err = (error as { code?: string }).code?.startsWith('PARLEY_ERR_')
        ? (error as Error)
        : parleyError('PARLEY_ERR_PLUGIN_LOAD', entry.name, (error as Error).message)
      markFailed(deps, entry.name, err)
      continue
    }
    network.definition = definition
    if (!definition.networkKind) {
      deps.log.warn(
        { network: entry.name, code: 'PARLEY_ERR_POLICY_DENIED' },
        "plugin declares no networkKind ('federation', 'xmpp' or 'public-provider'): the federation policy refuses all its traffic (rule network-kind.unknown)",
      )
    }
    network.publicOptions = redactOptions(entry.options, definition.secrets)
    const options = validateOptions(definition, entry.options)
    const retired = profile?.provider.retired
    if (retired && options.allowRetired !== true) {
      network.retired = retired.on
      markFailed(
        deps,
        entry.name,
        parleyError(
          'PARLEY_ERR_PROVIDER_RETIRED',
          profile?.provider.displayName ?? entry.name,
          retired.on,
        ),
      )
      continue
    }
    const log = deps.log.child({ network: entry.name }) as unknown as Logger
    const state = deps.stateFor(entry.name)
    const create = (): Connection => {
      let created: Connection | undefined
      created = definition.create(
        {
          log,
          emit: (event) => deps.accept(entry.name, event),
          roster: (identity, entries, { complete }) =>
            deps.roster(entry.name, identity, entries, complete),
          // A replaced connection's late reports are not the network's status.
          reportStatus: (status) => {
            if (created === undefined || network.connection === created)
              deps.registry.setStatus(entry.name, status)
          },
          state,
          signal: deps.signal,
        },
        options,
      )
      network.connection = created
      return created
    }
    try {
      const plugin: LoadedPlugin = {
        name: entry.name,
        definition,
        connection: create(),
        renew: () => {
          plugin.connection = create()
          return plugin.connection
        },
      }
      loaded.push(plugin)
    } catch (error) {
      markFailed(
        deps,
        entry.name,
        parleyError('PARLEY_ERR_PLUGIN_START', entry.name, (error as Error).message),
      )
    }
  }
  return loaded
}

/**
 * Starts every loaded connection, waiting at most `timeoutMs` in all. A
 * retryable failure leaves the plugin reconnecting on its own; anything
 * else marks the network `failed`. Never throws.
 */
export async function startPlugins(
  plugins: LoadedPlugin[],
  deps: PluginHostDeps,
  timeoutMs: number,
): Promise<void> {
  const starts = plugins.map(async ({ name, connection }) => {
    try {
      await connection.start()
    } catch (error) {
      const retryable = (error as { retryable?: boolean }).retryable === true
      const message = (error as Error)?.message ?? String(error)
      if (retryable) {
        deps.log.warn(
          { network: name, err: error },
          'network not reachable yet; plugin keeps reconnecting',
        )
        deps.registry.noteError(
          name,
          (error as { code?: string }).code ?? 'PARLEY_ERR_PLUGIN_START',
          message,
        )
      } else {
        // Keep the plugin's own code (e.g. PARLEY_ERR_AUTH_FAILED); anything else is a start failure.
        const own = (error as { code?: string }).code?.startsWith('PARLEY_ERR_')
        markFailed(
          deps,
          name,
          own ? (error as Error) : parleyError('PARLEY_ERR_PLUGIN_START', name, message),
        )
      }
    }
  })
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs)
  })
  await Promise.race([Promise.all(starts), timeout])
  clearTimeout(timer)
}

/** Stops every connection; a plugin that throws on stop is logged, not rethrown. */
export async function stopPlugins(plugins: LoadedPlugin[], log: PinoLogger): Promise<void> {
  await Promise.all(
    plugins.map(async ({ name, connection }) => {
      try {
        await connection.stop()
      } catch (error) {
        log.warn(
          { network: name, err: error, code: 'PARLEY_ERR_PLUGIN_THREW' },
          'plugin threw on stop',
        )
      }
    }),
  )
}

function isProfile(value: unknown): value is ProfileDefinition {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { base?: unknown }).base === 'string' &&
    typeof (value as { baseOptions?: unknown }).baseOptions === 'function'
  )
}

/**
 * A provider profile as a plugin: its own name, capabilities and options;
 * the base plugin's ids, connection and routes, the base configured with
 * `baseOptions` (checked against the base's own schema).
 */
async function composeProfile(
  profile: ProfileDefinition,
  name: string,
  rootDir: string,
): Promise<PluginDefinition> {
  const base = validateManifest(
    await importDefault(moduleSpecifier(rootDir, 'plugins', profile.base)),
    profile.base,
  )
  const manifest = validateManifest(
    { ...profile, normalizeId: base.normalizeId, create: base.create },
    name,
  )
  return {
    ...manifest,
    networkKind: 'public-provider',
    create: (ctx, options) =>
      base.create(
        ctx,
        validateOptions(base, profile.baseOptions(options, name)) as Parameters<
          typeof base.create
        >[1],
      ),
    ...(base.routes && { routes: base.routes }),
  }
}

function markFailed(deps: PluginHostDeps, name: string, error: Error): void {
  const code = (error as { code?: string }).code ?? 'PARLEY_ERR_PLUGIN_LOAD'
  deps.log.error({ network: name, code, err: error }, 'network failed')
  deps.registry.setStatus(name, {
    state: 'failed',
    reason: error.message,
    retryable: false,
    condition: code,
  })
}
