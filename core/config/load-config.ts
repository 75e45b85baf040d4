import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Value } from 'typebox/value'
import { parseKey } from '../auth/keys.js'
import { parleyError } from '../contract/index.js'
import { validatePolicy } from '../policy/validate.js'
import { ConfigSchema, type ParleyConfig, type ParleyConfigInput } from './schema.js'

type Env = Record<string, string | undefined>

/** Operator overrides from the environment; they win over the file. */
export function applyEnv(input: ParleyConfigInput, env: Env): ParleyConfigInput {
  const out: ParleyConfigInput = {
    ...input,
    server: { ...input.server },
    database: { ...input.database },
    redis: { ...input.redis },
    security: { ...input.security },
  }
  if (env.PORT !== undefined) out.server = { ...out.server, port: toPort(env.PORT) }
  if (env.HOST) out.server = { ...out.server, host: env.HOST }
  if (env.LOG_LEVEL)
    out.server = { ...out.server, logLevel: env.LOG_LEVEL as ParleyConfig['server']['logLevel'] }
  if (env.DATABASE_URL) out.database = { ...out.database, url: env.DATABASE_URL }
  if (env.REDIS_URL) out.redis = { ...out.redis, url: env.REDIS_URL }
  if (env.PARLEY_ADMIN_KEY !== undefined && env.PARLEY_ADMIN_KEY !== '') {
    // The value is a secret: the message never repeats it.
    if (!parseKey(env.PARLEY_ADMIN_KEY)) {
      throw parleyError(
        'PARLEY_ERR_CONFIG',
        'PARLEY_ADMIN_KEY is not a well-formed key (pk_<8 hex>_<43 base64url characters>); make one with `npm run keys -- generate`',
      )
    }
    out.security = { ...out.security, adminKey: env.PARLEY_ADMIN_KEY }
  }
  return out
}

function toPort(value: string): number {
  const port = Number(value)
  if (!/^\d+$/.test(value) || port > 65535) {
    throw parleyError('PARLEY_ERR_CONFIG', `PORT must be an integer 0-65535, got '${value}'`)
  }
  return port
}

/**
 * Fills defaults and validates the whole configuration. The first problem
 * is reported as one line naming the field (`server.port: …`); plugin and
 * bot options are validated later against each plugin's own schema.
 */
export function resolveConfig(input: ParleyConfigInput): ParleyConfig {
  if (input === null || typeof input !== 'object') {
    throw parleyError(
      'PARLEY_ERR_CONFIG',
      'the configuration must be an object (defineConfig({...}))',
    )
  }
  const withDefaults = Value.Default(ConfigSchema, structuredClone(input))
  const first = Value.Errors(ConfigSchema, withDefaults)[0]
  if (first) throw parleyError('PARLEY_ERR_CONFIG', describeError(first))
  const config = withDefaults as ParleyConfig
  if (config.policy) {
    // The schema checks shapes; the policy's own rules (disjoint domain
    // lists, unique providers, Lync's XMPP negotiation matrix) are checked here.
    const checked = validatePolicy(config.policy)
    const error = checked.errors[0]
    if (error) throw parleyError('PARLEY_ERR_CONFIG', `policy.${error.path}: ${error.message}`)
    if (checked.policy) config.policy = checked.policy
  }
  const seen = new Set<string>()
  for (const p of config.plugins) {
    if (seen.has(p.name))
      throw parleyError('PARLEY_ERR_CONFIG', `plugins: '${p.name}' is listed twice`)
    seen.add(p.name)
  }
  return config
}

interface SchemaError {
  instancePath: string
  message: string
  keyword: string
  params: Record<string, unknown>
}

/** `/plugins/0/name` + message -> `plugins[0].name: must match pattern …`. */
export function describeError(error: SchemaError, root = ''): string {
  let path = error.instancePath
    .split('/')
    .filter(Boolean)
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
    .join('')
  if (error.keyword === 'boolean' && error.message === 'schema is false') {
    return `${(root + path).replace(/^\./, '')}: unknown field`
  }
  if (
    error.keyword === 'additionalProperties' &&
    Array.isArray(error.params.additionalProperties)
  ) {
    path += `.${String(error.params.additionalProperties[0])}`
    return `${(root + path).replace(/^\./, '')}: unknown field`
  }
  if (error.keyword === 'required' && Array.isArray(error.params.requiredProperties)) {
    path += `.${String(error.params.requiredProperties[0])}`
    return `${(root + path).replace(/^\./, '')}: is required`
  }
  const where = (root + path).replace(/^\./, '') || '(root)'
  return `${where}: ${error.message}`
}

/** Imports fastify.config.ts (or `file`), applies env overrides and validates. */
export async function loadConfig(
  file = process.env.PARLEY_CONFIG ?? 'fastify.config.ts',
  env: Env = process.env,
) {
  const path = resolve(file)
  let mod: { default?: ParleyConfigInput }
  try {
    mod = (await import(pathToFileURL(path).href)) as { default?: ParleyConfigInput }
  } catch (error) {
    throw parleyError('PARLEY_ERR_CONFIG', `cannot load ${file}: ${(error as Error).message}`)
  }
  // A loader that compiles the file to CommonJS (ts-node) nests the default export once more.
  const inner = (mod.default as { default?: ParleyConfigInput } | undefined)?.default
  if (inner && typeof inner === 'object') mod = { default: inner }
  if (!mod.default)
    throw parleyError(
      'PARLEY_ERR_CONFIG',
      `${file} has no default export (export default defineConfig({...}))`,
    )
  return resolveConfig(applyEnv(mod.default, env))
}
