/**
 * A fix for @xmpp/stream-management 0.14's inbound counter (XEP-0198 `h`).
 *
 * The library resets the counter in `enabled()`, which runs a few microtasks
 * after `<enabled/>` is parsed. Stanzas parsed from the same TCP read in
 * between are counted before the reset, and an `<r/>` among them is answered
 * with the pre-reset count: Prosody sees `h` too high ("The client says it
 * handled 2 new stanzas, but we sent 1") or, after the late reset, going
 * backwards ("handled -1 new stanzas") and closes the session. After a failed
 * resumption the stale count of the old session makes the first case likely.
 *
 * `guardInboundCounter` resets the counter synchronously when `<enabled/>` or
 * `<failed/>` is parsed (before anything that follows it) and swallows the
 * library's late reset. Holds (acknowledging later than parsing) go through
 * `adjust`, never through the library's setter.
 */
import type { Element, XmppClient } from '@xmpp/client'

const NS_SM = 'urn:xmpp:sm:3'

export interface InboundCounter {
  /** The current `h`. */
  readonly value: number
  /** Moves `h` by `delta` (e.g. -1 to hold a stanza, +1 to release it). */
  adjust(delta: number): void
}

/** Installs the fix on a client; call right after `client()`, before connecting. */
export function guardInboundCounter(entity: XmppClient): InboundCounter {
  const sm = entity.streamManagement
  let value = 0
  let lateReset = false
  Object.defineProperty(sm, 'inbound', {
    configurable: true,
    enumerable: true,
    get: () => value,
    set: (next: number) => {
      // The library increments (never to 0) and resets to 0 in enabled()
      // and on 'offline'. Only the enabled() one is late.
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
