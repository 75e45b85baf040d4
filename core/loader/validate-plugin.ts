import semver from 'semver'
import { Value } from 'typebox/value'
import { describeError } from '../config/load-config.js'
import {
  CONTRACT_VERSION,
  NETWORK_NAME,
  type PluginDefinition,
  parleyError,
} from '../contract/index.js'
import { REDACTED } from '../http/log-redaction.js'

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

/** Option names that hold secrets, whatever the plugin declares. */
const SECRET_NAME = /pass(word)?|secret|token|private.?key|credential|api.?key/i
/** `key` inside these objects is a private key (the sip edge's `tls.key`). */
const KEY_HOLDER = /tls|ssl|cert/i
/** Values that are secrets wherever they appear: PEM private keys, Parley API keys. */
const SECRET_VALUE = /-----BEGIN [A-Z ]*PRIVATE KEY-----|pk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}/

/**
 * Options with every secret replaced, at any depth, for logs and
 * /v1/networks: the plugin's `secrets` (names, or dotted paths such as
 * `tls.key`), names that say secret (password, token, private key…), `key`
 * inside a TLS object, and values that are PEM private keys or API keys.
 */
export function redactOptions(
  options: unknown,
  secrets: readonly string[] = [],
): Record<string, unknown> {
  if (!options || typeof options !== 'object' || Array.isArray(options)) return {}
  return redactObject(options as Record<string, unknown>, secrets, '', '')
}

function redactObject(
  object: Record<string, unknown>,
  secrets: readonly string[],
  path: string,
  parent: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(object)) {
    const here = path ? `${path}.${name}` : name
    const secret =
      secrets.includes(name) ||
      secrets.includes(here) ||
      SECRET_NAME.test(name) ||
      (name === 'key' && KEY_HOLDER.test(parent))
    out[name] = secret ? REDACTED : redactValue(value, secrets, here, name)
  }
  return out
}

function redactValue(
  value: unknown,
  secrets: readonly string[],
  path: string,
  name: string,
): unknown {
  if (typeof value === 'string') return SECRET_VALUE.test(value) ? REDACTED : value
  if (Array.isArray(value)) return value.map((item) => redactValue(item, secrets, path, name))
  if (value && typeof value === 'object') {
    return redactObject(value as Record<string, unknown>, secrets, path, name)
  }
  return value
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}
