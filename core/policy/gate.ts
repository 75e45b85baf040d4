/**
 * The one place traffic meets the federation policy. Every inbound event a
 * plugin emits (message, typing, receipt, presence, contact request, call)
 * and every outbound act (a message from REST or a bot, a presence
 * subscription, a contact approval) asks `PolicyGate` first; nothing is
 * queued, stored or shown to a bot or the REST stream before it says yes.
 *
 * A refusal is a coded error (PARLEY_ERR_POLICY_DENIED, 403; inbound as a
 * non-retryable PluginError the plugin turns into the network's own refusal),
 * is logged with the rule that decided, and is counted in Redis
 * (`<prefix>:policy:refusals`, shared by every host process).
 *
 * A flood from one federated sender is throttled here too: past
 * `senderLimit` events in its window, that sender's traffic is refused with
 * PARLEY_ERR_RATE_LIMITED (retryable: the network tells the sender to wait)
 * while other senders are unaffected. Counting is per process, which is
 * exact: a network's inbound traffic arrives at the one process that holds
 * its connection.
 */
import type { Redis } from 'ioredis'
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible'
import {
  type AddressString,
  type InboundEvent,
  type Logger,
  PluginError,
  type ProviderFacts,
  parleyError,
} from '../contract/index.js'
import type { Contact } from '../store/index.js'
import { type Decision, decide, RULES } from './decide.js'
import type { PolicyRequest, TrafficKind } from './model.js'
import type { PolicyService } from './service.js'

/** What the gate needs to know about a network (from the registry). */
export interface GateNetwork {
  name: string
  definition?: { networkKind?: PolicyRequest['networkKind']; provider?: ProviderFacts }
  connection?: { transportSecure?(): boolean | undefined }
}

export interface SenderLimit {
  /** Events one sender may send in `windowSeconds` (messages, typing, contact requests, calls). */
  points: number
  windowSeconds: number
}

export interface PolicyGateOptions {
  policy: PolicyService
  network: (name: string) => GateNetwork | undefined
  contact: (identity: string, address: string) => Promise<Contact | undefined>
  /** For the shared refusal counters. */
  redis: Redis
  prefix: string
  senderLimit: SenderLimit
  log: Logger
}

/** Which policy question an inbound event asks. */
const KIND_OF: Record<InboundEvent['type'], TrafficKind> = {
  message: 'message',
  typing: 'message',
  receipt: 'message',
  presence: 'presence',
  subscription: 'subscription',
  call: 'call',
}

/** Presence is state, coalesced per address (latest wins): a flood costs little and is not throttled. */
const THROTTLED = new Set<InboundEvent['type']>(['message', 'typing', 'subscription', 'call'])

export interface OutboundQuestion {
  network: string
  identity: AddressString
  remote: AddressString
  kind: TrafficKind
}

export class PolicyGate {
  readonly #opts: PolicyGateOptions
  readonly #counters: string
  readonly #senders: RateLimiterMemory

  constructor(options: PolicyGateOptions) {
    this.#opts = options
    this.#counters = `${options.prefix}:policy:refusals`
    this.#senders = new RateLimiterMemory({
      points: options.senderLimit.points,
      duration: options.senderLimit.windowSeconds,
    })
  }

  /**
   * May this event from a network reach Parley? Resolves when it may; rejects
   * with a non-retryable PluginError PARLEY_ERR_POLICY_DENIED when the policy
   * refuses it, or a retryable PARLEY_ERR_RATE_LIMITED when its sender floods.
   */
  async inbound(network: string, event: InboundEvent): Promise<void> {
    const request = this.#request(network, 'inbound', event.to, event.from, KIND_OF[event.type])
    const decision = await this.#decide(request)
    if (!decision.allow) {
      this.#refused(request, decision, event.type)
      throw new PluginError('PARLEY_ERR_POLICY_DENIED', `${decision.rule}: ${decision.reason}`, {
        retryable: false,
        condition: 'forbidden',
      })
    }
    if (THROTTLED.has(event.type)) await this.#throttle(network, event)
  }

  /** May Parley's identity send this to a federated address? Throws PARLEY_ERR_POLICY_DENIED (403) if not. */
  async outbound(question: OutboundQuestion): Promise<void> {
    const request = this.#request(
      question.network,
      'outbound',
      question.identity,
      question.remote,
      question.kind,
    )
    const decision = await this.#decide(request)
    if (decision.allow) return
    this.#refused(request, decision, question.kind)
    throw parleyError('PARLEY_ERR_POLICY_DENIED', `${decision.rule}: ${decision.reason}`)
  }

  /** The decision for a request, with the policy request it was built from (for explain). */
  async explain(
    network: string,
    direction: PolicyRequest['direction'],
    identity: AddressString,
    remote: AddressString,
    kind: TrafficKind,
  ): Promise<Decision & { request: PolicyRequest; policyVersion: number }> {
    const request = this.#request(network, direction, identity, remote, kind)
    const decision = await this.#decide(request)
    return { ...decision, request, policyVersion: this.#opts.policy.state.version }
  }

  /** Refusals counted since the Redis prefix was created: `<direction> <rule>` -> count. */
  async refusals(): Promise<Record<string, number>> {
    const raw = await this.#opts.redis.hgetall(this.#counters)
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]))
  }

  #request(
    network: string,
    direction: PolicyRequest['direction'],
    identity: AddressString,
    remote: AddressString,
    kind: TrafficKind,
  ): PolicyRequest {
    const known = this.#opts.network(network)
    const definition = known?.definition
    const secure = known?.connection?.transportSecure?.()
    return {
      direction,
      network,
      ...(definition?.networkKind && { networkKind: definition.networkKind }),
      remote,
      identity,
      kind,
      remoteIsContact: false,
      ...(definition?.provider && { provider: definition.provider }),
      ...(secure !== undefined && { transportSecure: secure }),
    }
  }

  /**
   * Decides, looking the contact up only when it matters: an unverified
   * source is let through for contacts alone, so only then is the database
   * asked (most traffic is decided from memory).
   */
  async #decide(request: PolicyRequest): Promise<Decision> {
    const compiled = this.#opts.policy.compiled
    const first = decide(compiled, request)
    if (first.allow || first.rule !== RULES.unverifiedStranger) return first
    const contact = await this.#opts.contact(request.identity, request.remote)
    const isContact =
      contact !== undefined &&
      contact.subscription !== 'refused' &&
      contact.subscription !== 'pending-in'
    if (!isContact) return first
    request.remoteIsContact = true
    return decide(compiled, request)
  }

  #refused(request: PolicyRequest, decision: Decision, what: string): void {
    const field = `${request.direction} ${decision.rule}`
    this.#opts.redis.hincrby(this.#counters, field, 1).catch((err: unknown) => {
      this.#opts.log.debug({ err }, 'could not count a policy refusal')
    })
    this.#opts.log.info(
      {
        code: 'PARLEY_ERR_POLICY_DENIED',
        direction: request.direction,
        network: request.network,
        identity: request.identity,
        remote: request.remote,
        what,
        rule: decision.rule,
        reason: decision.reason,
      },
      'refused by the federation policy',
    )
  }

  async #throttle(network: string, event: InboundEvent): Promise<void> {
    const key = `${network}|${event.from}`
    try {
      await this.#senders.consume(key)
    } catch (outcome) {
      if (!(outcome instanceof RateLimiterRes)) throw outcome
      const limit = this.#opts.senderLimit
      // One line per flood and window, not one per refused event.
      if (outcome.consumedPoints === limit.points + 1) {
        this.#opts.log.warn(
          {
            code: 'PARLEY_ERR_RATE_LIMITED',
            network,
            from: event.from,
            limit: `${limit.points}/${limit.windowSeconds}s`,
            retryAfterMs: outcome.msBeforeNext,
          },
          'federated sender throttled',
        )
      }
      this.#opts.redis.hincrby(this.#counters, 'inbound sender-rate', 1).catch(() => undefined)
      throw new PluginError(
        'PARLEY_ERR_RATE_LIMITED',
        `${event.from} sent more than ${limit.points} events in ${limit.windowSeconds} s; retry in ${Math.ceil(outcome.msBeforeNext / 1000)} s`,
        { retryable: true, condition: 'rate-limited' },
      )
    }
  }
}
