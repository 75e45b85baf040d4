/**
 * Inbound stanzas -> host events. Messages, chat states and receipts become
 * `message`/`typing`/`receipt` events; presence is aggregated per contact
 * across resources before it becomes a `presence` event; subscription
 * requests become `subscription` events (never approved here); roster
 * results and pushes keep a copy of the roster. Nothing thrown here escapes:
 * unusable input is logged with PARLEY_ERR_WIRE_INVALID and dropped.
 */
import { randomUUID } from 'node:crypto'
import { type Element, type IncomingContext, xml } from '@xmpp/client'
import {
  type AddressString,
  type InboundEvent,
  type Logger,
  type PluginContext,
  PluginError,
} from '../../core/contract/index.js'
import { describe } from './failure.js'
import * as wire from './wire.js'

export interface InboundOptions {
  ctx: PluginContext
  log: Logger
  self: wire.Self
  identity: AddressString
  /** Sends on the current stream if it is online; never throws. */
  reply(stanza: Element): Promise<void>
}

export class InboundHandler {
  readonly #ctx: PluginContext
  readonly #log: Logger
  readonly #self: wire.Self
  readonly #identity: AddressString
  readonly #reply: (stanza: Element) => Promise<void>
  /** Per contact (bare JID), per resource: what each resource last said. */
  readonly #contacts = new Map<string, Map<string, wire.ResourcePresence>>()
  #roster = new Map<string, wire.RosterItem>()
  #seq = 0

  constructor(options: InboundOptions) {
    this.#ctx = options.ctx
    this.#log = options.log
    this.#self = options.self
    this.#identity = options.identity
    this.#reply = options.reply
  }

  roster(): wire.RosterItem[] {
    return [...this.#roster.values()]
  }

  /** A new session: presence starts over, the roster is what the server just sent. */
  newSession(roster: wire.RosterItem[]): void {
    this.#contacts.clear()
    this.#roster = new Map(roster.map((item) => [item.jid, item]))
    void this.#saveRoster()
    void this.#reportRoster(roster, true)
  }

  /** Whether handling `stanza` must finish before the server may forget it (see InboundHolds). */
  static mustHold(stanza: Element): boolean {
    if (stanza.name === 'message') return true
    return stanza.name === 'presence' && wire.toSubscriptionAction(stanza.attrs.type) !== undefined
  }

  /** Handles one inbound stanza; calls `done` once it is handled. */
  handle(stanza: Element, done: () => void): void {
    try {
      if (stanza.name === 'message') {
        this.#message(stanza).finally(done)
        return
      }
      if (stanza.name === 'presence') {
        this.#presence(stanza, done)
        return
      }
      // <iq/>: @xmpp/client's middleware answers (ping, roster push, service-unavailable).
      done()
    } catch (err) {
      done()
      this.#wireWarning(stanza, err)
    }
  }

  /** RFC 6121 §2.1.6 roster push; answers the iq (an error for a push from a third party). */
  rosterPush(ctx: IncomingContext): unknown {
    const from = ctx.stanza.attrs.from
    if (from && safeNormalize(from) !== this.#self.bare) {
      this.#wireWarning(ctx.stanza, 'roster push from a third party')
      return xml(
        'error',
        { type: 'cancel' },
        xml('service-unavailable', { xmlns: wire.NS.stanzas }),
      )
    }
    const items = wire.readRoster(ctx.element)
    for (const item of items) {
      if (item.subscription === 'remove') this.#roster.delete(item.jid)
      else this.#roster.set(item.jid, item)
    }
    void this.#saveRoster()
    void this.#reportRoster(items, false)
    return {}
  }

  async #message(stanza: Element): Promise<void> {
    try {
      const reading = wire.readMessage(stanza, this.#self)
      switch (reading.kind) {
        case 'invalid':
          this.#wireWarning(stanza, reading.reason)
          return
        case 'ignored':
          this.#log.debug({ id: stanza.attrs.id, reason: reading.reason }, 'message ignored')
          return
        case 'error':
          // An error about something we sent (no such user, offline storage full, …).
          this.#log.warn(
            {
              code: 'PARLEY_ERR_REMOTE_REFUSED',
              from: reading.from,
              id: reading.id,
              condition: reading.condition,
              text: reading.text,
            },
            'message bounced',
          )
          return
      }
      const { event } = reading
      try {
        await this.#ctx.emit(event)
      } catch (err) {
        if (event.type === 'message') await this.#refuse(stanza, err)
        else this.#notTaken(event, err)
        return
      }
      if (reading.receiptRequested && stanza.attrs.from && stanza.attrs.id) {
        // XEP-0184 "received" once the host has it durably, not before.
        await this.#reply(wire.receiptStanza(stanza.attrs.from, stanza.attrs.id))
      }
    } catch (err) {
      this.#wireWarning(stanza, err)
    }
  }

  /** The host could not queue a message: tell the sender instead of dropping it (RFC 6120 §8.3). */
  async #refuse(stanza: Element, err: unknown): Promise<void> {
    const retryable = PluginError.is(err)
      ? err.retryable
      : (err as { retryable?: unknown } | undefined)?.retryable !== false
    const code = PluginError.is(err) ? err.code : 'PARLEY_ERR_QUEUE_UNAVAILABLE'
    const reply = wire.messageError(
      stanza,
      code === 'PARLEY_ERR_POLICY_DENIED'
        ? { type: 'cancel', condition: 'forbidden', text: 'refused by federation policy' }
        : code === 'PARLEY_ERR_RATE_LIMITED'
          ? // RFC 6120 §8.3.3.12: a rate exceeded is a policy violation, to retry later.
            { type: 'wait', condition: 'policy-violation', text: 'too many messages; slow down' }
          : retryable
            ? {
                type: 'wait',
                condition: 'resource-constraint',
                text: 'cannot take messages now; try again later',
              }
            : { type: 'cancel', condition: 'service-unavailable' },
    )
    this.#log.warn(
      {
        code,
        from: stanza.attrs.from,
        id: stanza.attrs.id,
        retryable,
        err: describe(err),
      },
      'inbound message refused back to its sender',
    )
    if (reply) await this.#reply(reply)
  }

  #presence(stanza: Element, done: () => void): void {
    const reading = wire.readPresence(stanza, this.#self)
    if (reading.kind === 'subscription') {
      // Held until the host has it; a request it never saw is redelivered.
      this.#emit({
        type: 'subscription',
        from: wire.address(reading.from),
        to: this.#identity,
        remoteId: reading.id ?? `sub-${randomUUID()}`,
        action: reading.action,
        at: new Date().toISOString(),
      }).finally(done)
      return
    }
    done()
    switch (reading.kind) {
      case 'invalid':
        this.#wireWarning(stanza, reading.reason)
        return
      case 'ignored':
        this.#log.trace({ reason: reading.reason }, 'presence ignored')
        return
      case 'error':
        this.#log.debug({ from: reading.from, condition: reading.condition }, 'presence error')
        return
    }
    if (reading.unknownShow) {
      this.#log.warn(
        { code: 'PARLEY_ERR_WIRE_INVALID', from: reading.from, show: reading.unknownShow },
        'unknown <show/> value; treated as available',
      )
    }
    const resources = this.#contacts.get(reading.from) ?? new Map<string, wire.ResourcePresence>()
    if (reading.availability === 'offline') resources.delete(reading.resource)
    else {
      resources.set(reading.resource, {
        resource: reading.resource,
        availability: reading.availability,
        raw: reading.raw,
        priority: reading.priority,
        seq: ++this.#seq,
        ...(reading.status && { status: reading.status }),
      })
    }
    if (resources.size === 0) this.#contacts.delete(reading.from)
    else this.#contacts.set(reading.from, resources)
    // One resource going offline while another stays online is not "offline".
    const best = wire.bestPresence(resources.values())
    const status = best ? best.status : reading.status
    void this.#emit({
      type: 'presence',
      from: wire.address(reading.from),
      to: this.#identity,
      remoteId: reading.id ?? `pres-${randomUUID()}`,
      availability: best?.availability ?? 'offline',
      raw: best?.raw ?? reading.raw,
      at: reading.at ?? new Date().toISOString(),
      ...(status && { status }),
    })
  }

  async #emit(event: InboundEvent): Promise<void> {
    try {
      await this.#ctx.emit(event)
    } catch (err) {
      this.#notTaken(event, err)
    }
  }

  #notTaken(event: InboundEvent, err: unknown): void {
    this.#log.warn(
      { type: event.type, from: event.from, err: describe(err) },
      'host did not take the event',
    )
  }

  /** Tells the host, which keeps its contacts in step; a failure is logged, never thrown. */
  async #reportRoster(items: wire.RosterItem[], complete: boolean): Promise<void> {
    try {
      await this.#ctx.roster(this.#identity, items.map(wire.rosterEntry), { complete })
    } catch (err) {
      this.#log.warn({ err: describe(err), complete }, 'host did not take the roster')
    }
  }

  async #saveRoster(): Promise<void> {
    try {
      await this.#ctx.state.set('roster', JSON.stringify(this.roster()))
    } catch (err) {
      this.#log.warn({ err: describe(err) }, 'could not store the roster')
    }
  }

  #wireWarning(stanza: Element, reason: unknown): void {
    this.#log.warn(
      {
        code: 'PARLEY_ERR_WIRE_INVALID',
        stanza: stanza.name,
        from: stanza.attrs.from,
        id: stanza.attrs.id,
        reason: typeof reason === 'string' ? reason : describe(reason),
      },
      'unusable stanza ignored',
    )
  }
}

function safeNormalize(jid: string): string | undefined {
  try {
    return wire.normalizeId(jid)
  } catch {
    return undefined
  }
}
