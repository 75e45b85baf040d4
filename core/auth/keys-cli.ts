/**
 * `npm run keys -- create --scopes presence:read,messages:send [--name NAME]`
 * `npm run keys -- list`
 * `npm run keys -- revoke <id>`
 * `npm run keys -- generate`
 *
 * DATABASE_URL selects the database (unset: SQLite at ./data/parley.sqlite),
 * DATABASE_SCHEMA a PostgreSQL schema, as for `npm run migrate`. Pending
 * migrations are applied first, as the host does at start. `create` prints
 * the key once: only its hash is stored. `generate` prints a new well-formed
 * key without touching any database, for PARLEY_ADMIN_KEY (the host stores
 * its hash at start). Any failure (bad usage included)
 * prints a line to stderr and exits with 1.
 */
import { type CliOutput, databaseFromEnv, runAsEntryPoint } from '../store/cli.js'
import { openStore, type Store } from '../store/store.js'
import { generateKey, SCOPES } from './keys.js'

export const USAGE = [
  'usage: keys-cli.ts create --scopes SCOPE[,SCOPE...] [--name NAME]',
  '       keys-cli.ts list',
  '       keys-cli.ts revoke ID',
  '       keys-cli.ts generate',
  `scopes: ${SCOPES.join(', ')}`,
]

type Command =
  | { kind: 'create'; scopes: string[]; name?: string }
  | { kind: 'list' }
  | { kind: 'revoke'; id: string }
  | { kind: 'generate' }

class UsageError extends Error {}

function parseArgs(argv: string[]): Command {
  const [command, ...rest] = argv
  if (command === 'list') {
    if (rest.length > 0) throw new UsageError(`list takes no arguments (got '${rest.join(' ')}')`)
    return { kind: 'list' }
  }
  if (command === 'generate') {
    if (rest.length > 0)
      throw new UsageError(`generate takes no arguments (got '${rest.join(' ')}')`)
    return { kind: 'generate' }
  }
  if (command === 'revoke') {
    if (rest.length !== 1) throw new UsageError('revoke takes exactly one key id')
    return { kind: 'revoke', id: rest[0] as string }
  }
  if (command === 'create') {
    let scopes: string | undefined
    let name: string | undefined
    for (let i = 0; i < rest.length; i++) {
      const arg = rest[i] as string
      const [flag, inline] = arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined]
      if (flag !== '--scopes' && flag !== '--name') throw new UsageError(`unknown option '${arg}'`)
      const value = inline ?? rest[++i]
      if (value === undefined || value === '') throw new UsageError(`${flag} needs a value`)
      if (flag === '--scopes') scopes = value
      else name = value
    }
    if (scopes === undefined) throw new UsageError('create needs --scopes')
    return {
      kind: 'create',
      scopes: scopes
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
      ...(name !== undefined && { name }),
    }
  }
  throw new UsageError(command === undefined ? 'no command given' : `unknown command '${command}'`)
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, io: CliOutput): Promise<number> {
  const { out, err } = io
  let command: Command
  try {
    command = parseArgs(argv)
  } catch (error) {
    err(`error: ${(error as Error).message}`)
    for (const line of USAGE) err(line)
    return 1
  }
  if (command.kind === 'generate') {
    // No database: the key becomes a key when a host adopts it (PARLEY_ADMIN_KEY).
    out(generateKey().key)
    return 0
  }
  let store: Store | undefined
  try {
    const { config, line } = databaseFromEnv(env)
    out(line)
    store = await openStore(config)
    if (command.kind === 'create') {
      const created = await store.apiKeys.create({
        scopes: command.scopes,
        ...(command.name !== undefined && { name: command.name }),
      })
      out(`created key ${created.id} (${created.name}) with scopes ${created.scopes.join(',')}`)
      out(`key: ${created.key}`)
      out('warning: this is the only time the key is shown; Parley stores only its hash.')
      out('Copy it now: it cannot be recovered (revoke it and create another if lost).')
    } else if (command.kind === 'list') {
      const keys = await store.apiKeys.list()
      if (keys.length === 0) out('no API keys')
      for (const k of keys) {
        const state = k.revokedAt ? `revoked ${k.revokedAt}` : 'active'
        out(
          `${k.id} pk_${k.prefix}_… ${state} scopes=${k.scopes.join(',')} name=${JSON.stringify(k.name)} created=${k.createdAt} last_used=${k.lastUsedAt ?? 'never'}`,
        )
      }
    } else {
      if (!(await store.apiKeys.revoke(command.id))) {
        err(`error: no active API key with id ${command.id}`)
        return 1
      }
      out(`revoked ${command.id}`)
    }
    return 0
  } catch (error) {
    const e = error as Error & { code?: string }
    const message = (e instanceof Error ? e.message : String(error)).replace(/\s+/g, ' ').trim()
    err(e.code ? `${e.code}: ${message}` : `error: ${message}`)
    return 1
  } finally {
    await store?.close().catch(() => undefined)
  }
}

runAsEntryPoint(import.meta.url, main)
