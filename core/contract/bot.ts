import type { Activity, TurnContext } from 'botbuilder'
import type { TSchema } from 'typebox'
import type { AddressString } from './address.js'
import type { Logger } from './plugin.js'

/** What a bot's `create()` returns: a botbuilder ActivityHandler (or anything that runs a turn). */
export interface BotHandler {
  run(context: TurnContext): Promise<void>
}

export interface BotContext {
  log: Logger
  /** The bot's options from config. */
  options: Readonly<Record<string, unknown>>
}

export interface BotDefinition {
  name: string
  /**
   * Identities the bot answers by default (`xmpp:echo@example.org`, or
   * `xmpp:*` for every identity of a network); config may override them.
   */
  identities?: AddressString[]
  /** JSON Schema (TypeBox) of the bot's options; the loader validates them at start. */
  configSchema?: TSchema
  create(ctx: BotContext): BotHandler
}

export function defineBot(definition: BotDefinition): BotDefinition {
  return Object.freeze(definition)
}

export type { Activity, TurnContext }
