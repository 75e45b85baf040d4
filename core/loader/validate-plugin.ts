import semver from 'semver'
import { Value } from 'typebox/value'
import { describeError } from '../config/load-config.js'
import {
  CONTRACT_VERSION,
  NETWORK_NAME,
  type PluginDefinition,
  parleyError,
} from '../contract/index.js'

const CAPABILITY_FLAGS = [
  'im',
  'subscriptions',
  'typing',
  'receipts',
  'audioVideo',
  'groupChat',
] as const

/** Checks a plugin module's default export against the contract; throws PARLEY_ERR_PLUGIN_MANIFEST. */
export function validateManifest(value: unknown, expectedName: string): PluginDefinition {
  const fail = (why: string) => parleyError('PARLEY_ERR_PLUGIN_MANIFEST', expectedName, why)
  if (value === null || typeof value !== 'object')
    throw fail('the module has no default export from definePlugin()')
  const def = value as Partial<PluginDefinition>
  if (typeof def.name !== 'string' || !NETWORK_NAME.test(def.name))
    throw fail(`name '${String(def.name)}' is not a network name`)
  if (def.name !== expectedName)
    throw fail(`it is named '${def.name}' but configured as '${expectedName}'`)
  if (typeof def.version !== 'string' || !semver.valid(def.version))
    throw fail('version must be a semver version')
  if (typeof def.contract !== 'string' || !semver.validRange(def.contract))
    throw fail('contract must be a semver range')
  if (!semver.satisfies(CONTRACT_VERSION, def.contract)) {
    throw fail(`it implements contract ${def.contract}; this host provides ${CONTRACT_VERSION}`)
  }
  const caps = def.capabilities as unknown as Record<string, unknown> | undefined
  if (!caps || typeof caps !== 'object') throw fail('capabilities missing')
  for (const flag of CAPABILITY_FLAGS) {
    if (typeof caps[flag] !== 'boolean') throw fail(`capabilities.${flag} must be a boolean`)
  }
  if (!['push', 'poll', 'none'].includes(caps.presence as string))
    throw fail("capabilities.presence must be 'push', 'poll' or 'none'")
  if (!def.configSchema || typeof def.configSchema !== 'object')
    throw fail('configSchema must be a JSON Schema object')
  if (typeof def.create !== 'function') throw fail('create must be a function')
  if (typeof def.normalizeId !== 'function') throw fail('normalizeId must be a function')
  return def as PluginDefinition
}

/** Fills defaults and validates options; the error names the plugin and the field. */
export function validateOptions(
  def: PluginDefinition,
  options: unknown,
): Readonly<Record<string, unknown>> {
  const filled = Value.Default(def.configSchema, structuredClone(options ?? {}))
  const first = Value.Errors(def.configSchema, filled)[0]
  if (first)
    throw parleyError('PARLEY_ERR_PLUGIN_CONFIG', def.name, describeError(first, 'options'))
  return deepFreeze(filled as Record<string, unknown>)
}

/** Options with every secret field replaced, for logs and /v1/networks. */
export function redactOptions(
  options: unknown,
  secrets: readonly string[] = [],
): Record<string, unknown> {
  if (!options || typeof options !== 'object') return {}
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(options)) {
    out[key] =
      secrets.includes(key) || /pass(word)?|secret|token|private.?key/i.test(key)
        ? '[redacted]'
        : value
  }
  return out
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}
