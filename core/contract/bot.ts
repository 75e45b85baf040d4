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

/**
 * Event activities a bot sends to act on its contacts; the FederationAdapter
 * intercepts them (they never reach a network as messages). `value.address`
 * defaults to the turn's federated user.
 */
export const CONTACT_EVENTS = {
  approve: 'contact.approve',
  refuse: 'contact.refuse',
  watch: 'presence.watch',
  unwatch: 'presence.unwatch',
} as const
export type ContactEventName = (typeof CONTACT_EVENTS)[keyof typeof CONTACT_EVENTS]

function contactEvent(context: TurnContext, name: ContactEventName, address?: string) {
  return context.sendActivity({
    type: 'event',
    name,
    value: { address: address ?? context.activity.from?.id },
  })
}

/**
 * Typed helpers for a bot's turn: accept or refuse a contact request
 * (after a `contactRelationUpdate` with `action: 'add'`), and watch or
 * unwatch someone's presence. Each resolves once the host has acted and
 * rejects with the Parley error if it could not (e.g. the network is down).
 */
export const contacts = {
  approve: (context: TurnContext, address?: string) =>
    contactEvent(context, CONTACT_EVENTS.approve, address),
  refuse: (context: TurnContext, address?: string) =>
    contactEvent(context, CONTACT_EVENTS.refuse, address),
  watch: (context: TurnContext, address: string) =>
    contactEvent(context, CONTACT_EVENTS.watch, address),
  unwatch: (context: TurnContext, address: string) =>
    contactEvent(context, CONTACT_EVENTS.unwatch, address),
}
