/**
 * XEP-0198 stream management, the parts Parley adds to @xmpp/stream-management
 * 0.14 so that "sent" means the server has it and "received" means the host
 * has it (the library's own bugs are fixed in library-fixes.ts):
 *
 * - `OutboundAcks`: a send resolves once the server acknowledged the stanza.
 * - `InboundHolds`: a stanza is acknowledged to the server only once handled.
 */
import { type Element, type XmppClient, xml } from '@xmpp/client'
import type { PluginError } from '../../core/contract/index.js'
import { pluginError } from './failure.js'
import type { InboundCounter } from './library-fixes.js'

export const NS_SM = 'urn:xmpp:sm:3'

// ------------------------------------------------------------ outbound acks

interface PendingAck {
  resolve(): void
  reject(err: PluginError): void
  timer: NodeJS.Timeout
}

/**
 * Waits for the server's `<a h/>` covering a stanza. The library queues every
 * stanza sent while stream management is on, re-sends the unacked ones on a
 * resumed stream, and reports each as acked or failed (resumption refused,
 * client stopped); this turns that into one promise per stanza.
 */
export class OutboundAcks {
  readonly #pending = new Map<Element, PendingAck>()
  readonly #timeoutMs: number
  #requested = false

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs
  }

  /** Listens to one client's stream management; call once per client. */
  attach(entity: XmppClient): void {
    const sm = entity.streamManagement
    sm.on('ack', (stanza: Element) => this.#settle(stanza))
    sm.on('fail', (stanza: Element) =>
      this.#settle(
        stanza,
        pluginError(
          'PARLEY_ERR_SEND_FAILED',
          true,
          'the stream was lost before the server acknowledged it',
        ),
      ),
    )
  }

  get size(): number {
    return this.#pending.size
  }

  /**
   * Call right after `entity.send(stanza)` resolved. Resolves at once without
   * stream management; otherwise on the ack, or rejects (retryable) on
   * failure or after the timeout.
   */
  acked(entity: XmppClient, stanza: Element): Promise<void> {
    const sm = entity.streamManagement
    // The library queued the stanza in its 'send' hook, which ran just before
    // `send()` resolved, with these same flags.
    if (!sm.enabled && !sm.enableSent) return Promise.resolve()
    this.#requestAck(entity)
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(stanza)
        reject(
          pluginError(
            'PARLEY_ERR_SEND_FAILED',
            true,
            `no acknowledgement within ${this.#timeoutMs} ms`,
            'ack-timeout',
          ),
        )
      }, this.#timeoutMs)
      this.#pending.set(stanza, { resolve, reject, timer })
    })
  }

  /** Waits (at most `timeoutMs`) until every pending stanza is settled. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.#pending.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  rejectAll(err: PluginError): void {
    for (const stanza of [...this.#pending.keys()]) this.#settle(stanza, err)
  }

  /**
   * Asks for an `<a/>` right after a burst of sends: setImmediate runs after
   * the current I/O callbacks, so concurrent sends share one `<r/>`. On
   * loopback: ack p50 0.3–0.4 ms this way (a one-way delivery is ~0.3 ms);
   * 1.7 ms with the library's own request at 0 ms (a ≥1 ms setTimeout); 44 ms
   * with Nagle on. Allowing one `<r/>` in flight at a time was slower: a send
   * made while one is out waits two round trips.
   */
  #requestAck(entity: XmppClient): void {
    if (this.#requested) return
    this.#requested = true
    setImmediate(() => {
      this.#requested = false
      const sm = entity.streamManagement
      if (entity.status !== 'online' || !(sm.enabled || sm.enableSent)) return
      entity.send(xml('r', { xmlns: NS_SM })).catch(() => {})
    })
  }

  #settle(stanza: Element, err?: PluginError): void {
    const pending = this.#pending.get(stanza)
    if (!pending) return
    this.#pending.delete(stanza)
    clearTimeout(pending.timer)
    if (err) pending.reject(err)
    else pending.resolve()
  }
}

// ------------------------------------------------------------ inbound holds

interface Held {
  done: boolean
  generation: number
}

/**
 * The library counts an inbound stanza as handled the moment it is parsed
 * and tells the server (`<a h/>`), which then forgets it: a message still on
 * its way into the host's queue would be lost if the process died. So a
 * stanza to hold is un-counted on arrival and counted once its handler says
 * it is done (queued, or refused back to its sender). `h` acknowledges a
 * prefix of the stream, so anything after a held stanza waits behind it.
 * When the stream goes away the server re-sends what it has not seen
 * acknowledged; old holds are then forgotten (`reset`).
 */
export class InboundHolds {
  readonly #counter: InboundCounter
  readonly #entity: XmppClient
  #held: Held[] = []
  #generation = 0

  constructor(entity: XmppClient, counter: InboundCounter) {
    this.#entity = entity
    this.#counter = counter
  }

  /**
   * Call for every inbound stanza, as it arrives; returns the function that
   * marks it handled (call it once). `mustHold`: the stanza needs its handler
   * to finish (a message); others are held only behind one that is.
   */
  hold(mustHold: boolean): () => void {
    if (!this.#entity.streamManagement.enabled) return noop
    if (!mustHold && this.#held.length === 0) return noop
    this.#counter.adjust(-1)
    const held: Held = { done: false, generation: this.#generation }
    this.#held.push(held)
    return () => this.#release(held)
  }

  /** A new or lost stream: the counts of held stanzas mean nothing on the next one. */
  reset(): void {
    this.#held = []
    this.#generation++
  }

  #release(held: Held): void {
    if (held.done || held.generation !== this.#generation) return
    held.done = true
    while (this.#held[0]?.done) {
      this.#held.shift()
      this.#counter.adjust(1)
    }
  }
}

function noop(): void {}
