import type { Activity } from 'botbuilder'
import type { FastifyBaseLogger } from 'fastify'
import {
  CONTACT_EVENTS,
  type InboundCall,
  type InboundSubscription,
  type Presence,
  parleyError,
} from '../contract/index.js'
import type { ContactService } from '../presence/contacts.js'
import type { Accepted, LiveEntry } from '../presence/live-store.js'
import { derivedId } from '../queue/names.js'
import type { RunnableBot } from '../queue/workers.js'
import type { Store } from '../store/store.js'
import { callOfferActivity, contactRelationActivity, presenceActivity } from './activity.js'
import type { ContactAction, FederationAdapter } from './federation-adapter.js'
import type { BotDirectory } from './load-bots.js'

export interface ContactTurnsDeps {
  bots: BotDirectory
  adapter: FederationAdapter
  contacts: ContactService
  store: Store
  log: FastifyBaseLogger
  /** The presence model for a change (core/presence PresenceService.view). */
  view(address: string, entry: LiveEntry): Presence
}

/**
 * What bots hear about their contacts, and what they can do about them:
 * contact requests become `contactRelationUpdate` turns, presence changes of
 * watched contacts become `event` turns named `presence`, and the contact
 * events a bot sends (CONTACT_EVENTS) are carried out by the ContactService.
 */
export class ContactTurns {
  /** Presence turns run one at a time per (identity, contact), in the order changes arrived. */
  private readonly lanes = new Map<string, Promise<void>>()

  constructor(private readonly deps: ContactTurnsDeps) {}

  /** Inbound worker: a subscription event. Safe to run twice (the job may be retried). */
  async onSubscription(network: string, event: InboundSubscription, jobId: string) {
    const outcome = await this.deps.contacts.onSubscription(network, event)
    const result = {
      action: event.action,
      subscription: outcome.contact?.subscription ?? null,
      autoAccepted: outcome.autoAccepted,
      bot: null as string | null,
    }
    if (!outcome.relation) return result
    const bot = this.deps.bots.botFor(event.to)
    if (!bot) {
      if (event.action === 'request' && !outcome.autoAccepted) {
        this.deps.log.info(
          { network, identity: event.to, from: event.from, code: 'PARLEY_ERR_NO_BOT' },
          'contact request left pending: no bot answers this identity',
        )
      }
      return result
    }
    result.bot = bot.name
    const activity = contactRelationActivity({
      network,
      identity: event.to,
      address: event.from,
      botName: bot.name,
      id: derivedId(jobId, 'contact'),
      action: outcome.relation,
      ...(outcome.contact && {
        contactId: outcome.contact.id,
        subscription: outcome.contact.subscription,
      }),
    })
    // If the bot fails, the request stays as it is (pending): a REST client can still decide it.
    await this.turn(bot, activity, 'bot failed on a contact update; the contact is left as it was')
    return result
  }

  /** Inbound worker: a call offer (no media here: the plugin has answered it); the bot is told. */
  async onCall(network: string, event: InboundCall, jobId: string) {
    const bot = this.deps.bots.botFor(event.to)
    if (!bot) return { bot: null }
    const activity = callOfferActivity({
      network,
      identity: event.to,
      address: event.from,
      botName: bot.name,
      id: derivedId(jobId, 'call'),
      media: event.media,
      answered: event.answered,
    })
    await this.turn(bot, activity, 'bot failed on a call offer')
    return { bot: bot.name }
  }

  /** Presence worker: a changed presence of someone an identity watches. */
  onPresence(change: Accepted & { network: string }): void {
    const { entry } = change
    const bot = this.deps.bots.botFor(entry.source)
    if (!bot) return
    const key = `${entry.source}|${entry.address}`
    const previous = this.lanes.get(key) ?? Promise.resolve()
    const next = previous.then(async () => {
      const activity = presenceActivity({
        network: change.network,
        identity: entry.source,
        address: entry.address,
        botName: bot.name,
        id: derivedId(entry.address, entry.version),
        value: this.deps.view(entry.address, entry),
      })
      await this.turn(bot, activity, 'bot failed on a presence event')
    })
    this.lanes.set(key, next)
    void next.finally(() => {
      if (this.lanes.get(key) === next) this.lanes.delete(key)
    })
  }

  /** One bot turn and the replies it queued; a failure is logged, not thrown. */
  private async turn(bot: RunnableBot, activity: Partial<Activity>, failure: string) {
    try {
      const { replies } = await this.deps.adapter.processActivity(
        bot,
        activity,
        activity.id as string,
      )
      await replies
    } catch (err) {
      this.deps.log.warn(
        {
          bot: bot.name,
          type: activity.type,
          from: activity.from?.id,
          err: (err as Error).message,
        },
        failure,
      )
    }
  }

  /** Resolves once every presence turn started so far has finished. */
  async drain(): Promise<void> {
    while (this.lanes.size > 0) await Promise.allSettled([...this.lanes.values()])
  }

  /** A contact event a bot sent (approve, refuse, watch, unwatch). */
  async contactAction(action: ContactAction): Promise<void> {
    const { contacts, store } = this.deps
    const address = contacts.normalize(action.address)
    if (action.name === CONTACT_EVENTS.watch) {
      await contacts.watch({ identity: action.identity, address })
      return
    }
    const contact = await store.contacts.get(action.identity, address)
    if (!contact)
      throw parleyError('PARLEY_ERR_CONTACT_NOT_FOUND', `${action.identity} -> ${address}`)
    if (action.name === CONTACT_EVENTS.unwatch) await contacts.unwatch(contact)
    else if (action.name === CONTACT_EVENTS.approve) await contacts.approve(contact)
    else await contacts.refuse(contact)
  }
}
