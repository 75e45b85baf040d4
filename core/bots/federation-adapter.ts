import { randomUUID } from 'node:crypto'
import {
  type Activity,
  ActivityTypes,
  BotAdapter,
  type ConversationReference,
  type ResourceResponse,
  TurnContext,
} from 'botbuilder'
import type { FastifyBaseLogger } from 'fastify'
import {
  CONTACT_EVENTS,
  type ContactEventName,
  type InboundMessage,
  parleyError,
} from '../contract/index.js'
import { derivedId } from '../queue/names.js'
import type { TurnReply } from '../queue/queues.js'
import type { RunnableBot } from '../queue/workers.js'
import { activityToOutbound, messageToActivity } from './activity.js'

/** One bot reply, as the adapter hands it to the outbound sink. */
export type ReplyRequest = TurnReply

/** A bot's request to act on a contact (see CONTACT_EVENTS in core/contract). */
export interface ContactAction {
  name: ContactEventName
  /** The bot's identity in the turn. */
  identity: string
  /** The federated user concerned. */
  address: string
}

export interface FederationAdapterDeps {
  log: FastifyBaseLogger
  /** Persists and queues one bot reply on `outbound-<network>`. */
  enqueueReply(reply: ReplyRequest): Promise<void>
  /** Carries out a contact action a bot sent as an event activity. */
  contactAction?(action: ContactAction): Promise<void>
  turnTimeoutMs: number
}

const CONTACT_EVENT_NAMES = new Set<string>(Object.values(CONTACT_EVENTS))

interface TurnState {
  bot: string
  /** Seed for reply ids: the inbound record id, or a random one for proactive turns. */
  seed: string
  seq: number
  revoked: boolean
  /** Replies handed to enqueueReply during the turn, in order. */
  queued: Promise<void>[]
  /** The same replies, as handed over. */
  sent: ReplyRequest[]
}

/** What a turn leaves behind: settles once every reply it sent is durably queued. */
export interface TurnResult {
  replies: Promise<void>
  /** What the bot sent, in order (kept by the worker if what follows fails). */
  sent: ReplyRequest[]
}

const TURN_STATE = Symbol('parley.turn')

/**
 * Parley's botbuilder adapter: host events become Activities for a bot's
 * turn, and what the bot sends becomes outbound jobs. It never talks to a
 * network directly; the outbound worker does.
 */
export class FederationAdapter extends BotAdapter {
  constructor(private readonly deps: FederationAdapterDeps) {
    super()
  }

  /**
   * Runs one bot turn for an inbound message; throws if the bot throws or
   * times out. Resolves when the bot's logic is done; `replies` settles once
   * what it sent is queued (the caller must await it before acknowledging).
   */
  async processMessage(
    bot: RunnableBot,
    network: string,
    event: InboundMessage,
    recordId: string,
  ): Promise<TurnResult> {
    const activity = messageToActivity(network, event, recordId, bot.name)
    return this.runTurn(bot, activity, recordId)
  }

  /** Runs one bot turn for a host event (contactRelationUpdate, presence); `seed` makes reply ids stable. */
  processActivity(
    bot: RunnableBot,
    activity: Partial<Activity>,
    seed: string,
  ): Promise<TurnResult> {
    return this.runTurn(bot, activity, seed)
  }

  private async runTurn(
    bot: RunnableBot,
    activity: Partial<Activity>,
    seed: string,
  ): Promise<TurnResult> {
    const context = new TurnContext(this, activity)
    const state: TurnState = {
      bot: bot.name,
      seed,
      seq: 0,
      revoked: false,
      queued: [],
      sent: [],
    }
    context.turnState.set(TURN_STATE, state)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        state.revoked = true
        reject(parleyError('PARLEY_ERR_BOT_TIMEOUT', bot.name, this.deps.turnTimeoutMs))
      }, this.deps.turnTimeoutMs)
    })
    try {
      await Promise.race([this.runMiddleware(context, (ctx) => bot.handler.run(ctx)), timeout])
    } catch (error) {
      if ((error as { code?: string }).code === 'PARLEY_ERR_BOT_TIMEOUT') throw error
      throw parleyError('PARLEY_ERR_BOT_TURN', bot.name, (error as Error)?.message ?? String(error))
    } finally {
      clearTimeout(timer)
    }
    return { replies: Promise.all(state.queued).then(() => undefined), sent: state.sent }
  }

  override async sendActivities(
    context: TurnContext,
    activities: Partial<Activity>[],
  ): Promise<ResourceResponse[]> {
    const state = context.turnState.get(TURN_STATE) as TurnState | undefined
    if (!state) throw parleyError('PARLEY_ERR_INTERNAL', 'sendActivities outside a Parley turn')
    const responses: ResourceResponse[] = []
    for (const activity of activities) {
      if (state.revoked)
        throw parleyError('PARLEY_ERR_BOT_TIMEOUT', state.bot, this.deps.turnTimeoutMs)
      switch (activity.type) {
        case 'delay':
          await new Promise((resolve) =>
            setTimeout(resolve, typeof activity.value === 'number' ? activity.value : 1000),
          )
          responses.push({ id: '' })
          break
        case ActivityTypes.Event:
          if (activity.name && CONTACT_EVENT_NAMES.has(activity.name)) {
            await this.contactAction(context, activity)
          } else {
            this.deps.log.debug({ bot: state.bot, name: activity.name }, 'event activity ignored')
          }
          responses.push({ id: '' })
          break
        case ActivityTypes.InvokeResponse:
          // No network Parley speaks has invoke; keep it for a caller that asks.
          context.turnState.set('parley.invokeResponse', activity)
          responses.push({ id: '' })
          break
        case ActivityTypes.Message: {
          const id = activity.id ?? derivedId(state.seed, 'reply', String(state.seq++))
          const out = activityToOutbound(activity, {
            from: context.activity.recipient?.id ?? '',
            to: context.activity.from?.id ?? '',
          })
          if (!out.text) {
            this.deps.log.warn(
              { bot: state.bot, id },
              'bot sent a message without text; attachments are not supported yet',
            )
            responses.push({ id: '' })
            break
          }
          // Not awaited: the reply's place in its recipient's order is taken
          // now (synchronously); the turn need not wait for Redis.
          const reply: ReplyRequest = { id, ...out, bot: state.bot }
          state.sent.push(reply)
          const queued = this.deps.enqueueReply(reply)
          queued.catch(() => {})
          state.queued.push(queued)
          responses.push({ id })
          break
        }
        default:
          this.deps.log.debug(
            { bot: state.bot, type: activity.type },
            'activity type not sent to networks',
          )
          responses.push({ id: '' })
      }
    }
    return responses
  }

  private async contactAction(context: TurnContext, activity: Partial<Activity>): Promise<void> {
    const value = (activity.value ?? {}) as { address?: unknown }
    const address = typeof value.address === 'string' ? value.address : context.activity.from?.id
    const identity = context.activity.recipient?.id
    if (!this.deps.contactAction || !address || !identity) {
      throw parleyError(
        'PARLEY_ERR_VALIDATION',
        `${activity.name} needs an address and a bot identity`,
      )
    }
    await this.deps.contactAction({ name: activity.name as ContactEventName, identity, address })
  }

  override async updateActivity(context: TurnContext): Promise<void> {
    throw parleyError(
      'PARLEY_ERR_CAPABILITY',
      context.activity.channelId ?? 'unknown',
      'message edits',
    )
  }

  override async deleteActivity(context: TurnContext): Promise<void> {
    throw parleyError(
      'PARLEY_ERR_CAPABILITY',
      context.activity.channelId ?? 'unknown',
      'message deletion',
    )
  }

  /** Proactive messaging: run `logic` in a turn bound to a stored conversation reference. */
  override async continueConversation(
    reference: Partial<ConversationReference>,
    logic: (context: TurnContext) => Promise<void>,
  ): Promise<void> {
    const activity = TurnContext.applyConversationReference(
      { type: ActivityTypes.Event, name: 'continueConversation' },
      reference,
      true,
    )
    const context = new TurnContext(this, activity)
    const state: TurnState = {
      bot: reference.bot?.name ?? 'proactive',
      seed: randomUUID(),
      seq: 0,
      revoked: false,
      queued: [],
      sent: [],
    }
    context.turnState.set(TURN_STATE, state)
    await this.runMiddleware(context, logic)
    await Promise.all(state.queued)
  }
}
