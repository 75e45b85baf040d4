/**
 * Fixes for @xmpp/client 0.14 bugs that lose or corrupt data against a real
 * server. Each is installed on one client (`patchClient`) right after
 * `client()` and before it connects; each has a test that fails without it
 * (test/plugins/xmpp/). The test peers use them too: they are library fixes,
 * not plugin behaviour.
 */
import { StringDecoder } from 'node:string_decoder'
import type { Element, XmppClient } from '@xmpp/client'

const NS_SM = 'urn:xmpp:sm:3'

export interface InboundCounter {
  /** The current `h`. */
  readonly value: number
  /** Moves `h` by `delta` (-1 to hold a stanza back, +1 to count it). */
  adjust(delta: number): void
}

/**
 * Installs every fix below; call right after `client()`, before connecting.
 * Returns the XEP-0198 inbound counter (for InboundHolds).
 */
export function patchClient(entity: XmppClient): InboundCounter {
  decodeUtf8AcrossReads(entity)
  dropUnresumableQueue(entity)
  return guardInboundCounter(entity)
}

/**
 * @xmpp/connection decodes every TCP read on its own (`data.toString('utf8')`),
 * so a multi-byte character split between two reads turns into two U+FFFD:
 * measured, half of the 120 kB messages of "ü" arrived corrupted, and any
 * non-ASCII text can be hit when a read boundary falls inside it. A
 * StringDecoder per socket keeps the partial bytes for the next read.
 */
export function decodeUtf8AcrossReads(entity: XmppClient): void {
  let decoder = new StringDecoder('utf8')
  // A new connection starts on a character boundary (and STARTTLS swaps the
  // socket right after a complete element).
  entity.on('connect', () => {
    decoder = new StringDecoder('utf8')
  })
  // Bound by the library when the first socket is attached: set before connecting.
  entity._onData = (data: Buffer | string) => {
    const text = typeof data === 'string' ? data : decoder.write(data)
    if (text) entity.parser?.write(text)
  }
}

/**
 * The library resets its counter in `enabled()`, a few microtasks after
 * `<enabled/>` is parsed. Stanzas parsed from the same TCP read in between
 * are counted before the reset, and an `<r/>` among them is answered with
 * the pre-reset count: Prosody sees `h` too high ("The client says it handled
 * 2 new stanzas, but we sent 1") or, after the late reset, going backwards
 * ("handled -1 new stanzas"), and closes the session. After a failed
 * resumption the stale count of the old session makes this likely.
 *
 * This resets the counter synchronously when `<enabled/>` or `<failed/>` is
 * parsed, before anything after it, and swallows the library's late reset.
 * Install right after `client()`, before connecting.
 */
export function guardInboundCounter(entity: XmppClient): InboundCounter {
  const sm = entity.streamManagement
  let value = 0
  let lateReset = false
  Object.defineProperty(sm, 'inbound', {
    configurable: true,
    enumerable: true,
    get: () => value,
    set: (next: number) => {
      // The library increments (never to 0), and resets to 0 in enabled()
      // and on 'offline'; only the enabled() one comes late.
      if (next === 0 && lateReset) {
        lateReset = false
        return
      }
      value = next
    },
  })
  // Registered before any `procedure` listener, so it runs first for the nonza.
  entity.on('nonza', (element: Element) => {
    if (element.getNS() !== NS_SM) return
    if (element.name === 'enabled') {
      value = 0
      lateReset = true
    } else if (element.name === 'failed') {
      value = 0
    }
  })
  entity.on('disconnect', () => {
    lateReset = false
  })
  return {
    get value() {
      return value
    },
    adjust(delta: number) {
      value = Math.max(0, value + delta)
    },
  }
}

/**
 * A stream that drops after `<enable/>` went out but before `<enabled/>` came
 * back has no id to resume, yet the library keeps the stanzas it queued for
 * acking. On the next session its enable step finds the queue not empty,
 * throws ("Stream Management assertion failure, queue should be empty after
 * enable") and leaves stream management half on: the server's acks are then
 * matched against the stale stanzas and the new ones are never acknowledged.
 * So when a stream without an id drops, its queue is failed right away, as
 * the library does itself when a resumption is refused.
 */
export function dropUnresumableQueue(entity: XmppClient): void {
  const sm = entity.streamManagement
  entity.on('disconnect', () => {
    if (sm.id || sm.outbound_q.length === 0) return
    const stale = sm.outbound_q.splice(0)
    sm.outbound = 0
    for (const item of stale) sm.emit('fail', item.stanza)
  })
}
