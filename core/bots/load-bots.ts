import type { FastifyBaseLogger } from 'fastify'
import type { TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { describeError } from '../config/load-config.js'
import type { BotEntry } from '../config/schema.js'
import {
  type AddressString,
  type BotDefinition,
  type Logger,
  parleyError,
} from '../contract/index.js'
import { importDefault, moduleSpecifier } from '../loader/resolve-module.js'
import type { RunnableBot } from '../queue/workers.js'

export interface LoadedBot extends RunnableBot {
  identities: AddressString[]
}

export interface BotLoadFailure {
  name: string
  code: string
  reason: string
}

/** Which bot answers which identity: exact addresses first, then `network:*`. */
export class BotDirectory {
  constructor(
    readonly bots: LoadedBot[],
    readonly failures: BotLoadFailure[],
  ) {}

  botFor(identity: AddressString): LoadedBot | undefined {
    const exact = this.bots.find((b) => b.identities.includes(identity))
    if (exact) return exact
    const network = identity.slice(0, identity.indexOf(':'))
    return this.bots.find((b) => b.identities.includes(`${network}:*`))
  }
}

/**
 * Imports every enabled bot named in config and creates its handler. A bot
 * that fails to load is logged and listed as a failure; the host runs on.
 */
export async function loadBots(
  entries: BotEntry[],
  rootDir: string,
  log: FastifyBaseLogger,
): Promise<BotDirectory> {
  const bots: LoadedBot[] = []
  const failures: BotLoadFailure[] = []
  for (const entry of entries.filter((e) => e.enabled)) {
    try {
      const def = (await importDefault(
        moduleSpecifier(rootDir, 'bots', entry.name, entry.module),
      )) as Partial<BotDefinition>
      if (!def || typeof def.create !== 'function' || typeof def.name !== 'string') {
        throw parleyError(
          'PARLEY_ERR_BOT_LOAD',
          entry.name,
          'the module has no default export from defineBot()',
        )
      }
      // Bad options are a configuration error: the host must not start (like a plugin's).
      const options = def.configSchema
        ? validateBotOptions(entry.name, def.configSchema, entry.options)
        : entry.options
      const handler = def.create({
        log: log.child({ bot: entry.name }) as unknown as Logger,
        options,
      })
      if (!handler || typeof handler.run !== 'function') {
        throw parleyError(
          'PARLEY_ERR_BOT_LOAD',
          entry.name,
          'create() must return an ActivityHandler (with run())',
        )
      }
      const identities = entry.identities ?? def.identities ?? []
      if (identities.length === 0)
        log.warn({ bot: entry.name }, 'bot answers no identity; set identities in config')
      bots.push({ name: entry.name, handler, identities })
    } catch (error) {
      if ((error as { code?: string }).code === 'PARLEY_ERR_BOT_CONFIG') throw error
      const code = (error as { code?: string }).code ?? 'PARLEY_ERR_BOT_LOAD'
      const reason = (error as Error)?.message ?? String(error)
      log.error({ bot: entry.name, code, err: error }, 'bot failed to load')
      failures.push({
        name: entry.name,
        code: code.startsWith('PARLEY_ERR_') ? code : 'PARLEY_ERR_BOT_LOAD',
        reason,
      })
    }
  }
  return new BotDirectory(bots, failures)
}

function validateBotOptions(
  name: string,
  schema: TSchema,
  options: unknown,
): Readonly<Record<string, unknown>> {
  const filled = Value.Default(schema, structuredClone(options ?? {}))
  const first = Value.Errors(schema, filled)[0]
  if (first) throw parleyError('PARLEY_ERR_BOT_CONFIG', name, describeError(first, 'options'))
  return Object.freeze(filled as Record<string, unknown>)
}
