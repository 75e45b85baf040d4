/**
 * A plain @xmpp/client user on a test Prosody: the "other side" of a
 * conversation with a plugin under test. It records every stanza it receives
 * and can send anything, including stanzas the plugin should shrug off.
 */
import { client, type Element, type XmppClient, xml } from '@xmpp/client'
// @xmpp/client 0.14 corrupts split UTF-8 and has XEP-0198 races that make
// Prosody drop sessions; the plugin's fixes are library fixes, peers use them too.
import { patchClient } from '../../plugins/xmpp/library-fixes.js'

export interface RawXmppUser {
  readonly client: XmppClient
  /** Full JID of this session. */
  readonly jid: string
  /** Bare JID. */
  readonly bare: string
  /** Every stanza received, in order. */
  readonly received: Element[]
  send(stanza: Element): Promise<void>
  /** A `type="chat"` message with a body; returns its id. */
  message(to: string, body: string, attrs?: Record<string, string>): Promise<string>
  /** Resolves with the first received stanza (from `since`) that matches. */
  waitFor(
    predicate: (stanza: Element) => boolean,
    options?: { timeoutMs?: number; since?: number },
  ): Promise<Element>
  /** Closes the stream (idempotent). */
  stop(): Promise<void>
}

export interface UserOptions {
  resource?: string
  /** Send initial presence after login. @defaultValue true */
  presence?: boolean
  /**
   * Fetch the roster after login, as real clients do: Prosody sends roster
   * pushes and subscription approvals only to resources that did. @defaultValue true
   */
  roster?: boolean
  /** Reconnect after the server drops the stream, as a real client does. @defaultValue false */
  reconnect?: boolean
}

let counter = 0

export async function connectRawUser(
  peer: { service: string; domain: string },
  username: string,
  password: string,
  options: UserOptions = {},
): Promise<RawXmppUser> {
  const xmpp = client({
    service: peer.service,
    domain: peer.domain,
    resource: options.resource ?? `user-${process.pid}-${++counter}`,
    // PLAIN: SCRAM-SHA-1 costs @xmpp/client over a second of CPU per login.
    credentials: (authenticate) => authenticate({ username, password }, 'PLAIN'),
  })
  if (!options.reconnect) xmpp.reconnect.stop()
  patchClient(xmpp)
  // Nagle's algorithm would hold small stanzas back ~40 ms behind delayed ACKs.
  xmpp.on('connect', () => xmpp.socket?.setNoDelay(true))
  // Tests make peers misbehave on purpose; an unhandled 'error' would throw.
  xmpp.on('error', () => {})
  const received: Element[] = []
  const waiters = new Set<() => void>()
  xmpp.on('stanza', (stanza: Element) => {
    received.push(stanza)
    for (const check of [...waiters]) check()
  })
  const jid = await xmpp.start()
  if (options.roster ?? true) await xmpp.iqCaller.get(xml('query', { xmlns: 'jabber:iq:roster' }))
  if (options.presence ?? true) await xmpp.send(xml('presence'))
  let stopped = false
  return {
    client: xmpp,
    jid: jid.toString(),
    bare: jid.bare().toString(),
    received,
    send: (stanza) => xmpp.send(stanza),
    async message(to, body, attrs = {}) {
      const id = attrs.id ?? `m-${process.pid}-${++counter}`
      await xmpp.send(xml('message', { type: 'chat', to, ...attrs, id }, xml('body', {}, body)))
      return id
    },
    waitFor(predicate, { timeoutMs = 5000, since = 0 } = {}) {
      return new Promise<Element>((resolve, reject) => {
        let checked = since
        const check = () => {
          for (; checked < received.length; checked++) {
            const stanza = received[checked] as Element
            if (predicate(stanza)) {
              done()
              resolve(stanza)
              return
            }
          }
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`${jid}: no matching stanza within ${timeoutMs} ms`))
        }, timeoutMs)
        const done = () => {
          clearTimeout(timer)
          waiters.delete(check)
        }
        waiters.add(check)
        check()
      })
    },
    async stop() {
      if (stopped) return
      stopped = true
      try {
        await xmpp.stop()
      } catch {
        xmpp.socket?.destroy()
      }
    },
  }
}
