import { type Element, xml } from '@xmpp/client'
import { connectRawUser } from '../peers/raw-xmpp.js'

export interface ReceivedMessage {
  from: string
  id: string | undefined
  body: string
  /** performance.now() when it arrived. */
  at: number
}

/** A message bounced back to the user (`type='error'`), e.g. refused by the host. */
export interface BouncedMessage {
  from: string
  /** The id of the message it answers. */
  id: string | undefined
  /** The defined condition (`resource-constraint`, `service-unavailable`, …). */
  condition: string | undefined
  /** The error's type (`wait`: try again later, `cancel`: do not). */
  type: string | undefined
  at: number
}

export interface XmppUser {
  jid: string
  messages: ReceivedMessage[]
  /** Messages bounced back with an error, in arrival order. */
  bounces: BouncedMessage[]
  /**
   * Ids of messages the server never acknowledged (XEP-0198): the stream
   * was lost and a new session began. A client sends those again.
   */
  unacked: string[]
  /** Sends a chat message; `id` defaults to a fresh one. */
  send(to: string, body: string, id?: string): Promise<void>
  /** Resolves when `count` messages (in all) have arrived, or rejects after `timeoutMs`. */
  waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>
  onMessage(listener: (message: ReceivedMessage) => void): void
  /** Resolves when the session is online (again, after a server restart). */
  waitOnline(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

/**
 * A person chatting on the XMPP server: a raw @xmpp/client session (see
 * test/peers/raw-xmpp.ts) that reconnects after a server restart and keeps
 * the chat messages it receives. Used by end-to-end tests, the demo and the
 * echo benchmark.
 */
export async function connectUser(options: {
  service: string
  domain: string
  username: string
  password: string
  resource?: string
}): Promise<XmppUser> {
  const raw = await connectRawUser(options, options.username, options.password, {
    reconnect: true,
    ...(options.resource && { resource: options.resource }),
  })
  const messages: ReceivedMessage[] = []
  const bounces: BouncedMessage[] = []
  const unacked: string[] = []
  raw.client.streamManagement.on('fail', (stanza: Element) => {
    if (stanza.is('message') && stanza.attrs.id) unacked.push(String(stanza.attrs.id))
  })
  const listeners: Array<(m: ReceivedMessage) => void> = []
  raw.client.on('stanza', (stanza: Element) => {
    if (!stanza.is('message')) return
    if (stanza.attrs.type === 'error') {
      const error = stanza.getChild('error')
      bounces.push({
        from: String(stanza.attrs.from ?? ''),
        id: stanza.attrs.id,
        condition: error?.children.find((c): c is Element => typeof c !== 'string')?.name,
        type: error?.attrs.type,
        at: performance.now(),
      })
      return
    }
    const body = stanza.getChildText('body')
    if (body === null) return
    const message = {
      from: String(stanza.attrs.from ?? ''),
      id: stanza.attrs.id,
      body,
      at: performance.now(),
    }
    messages.push(message)
    for (const listener of listeners) listener(message)
  })
  let online = true
  // A new session after a restart has no presence (and no offline messages) until it sends one.
  raw.client.on('online', () => {
    online = true
    void raw.client.send(xml('presence')).catch(() => {})
  })
  raw.client.on('disconnect', () => {
    online = false
  })
  return {
    jid: raw.bare,
    messages,
    bounces,
    unacked,
    async send(to, body, id) {
      await raw.message(to, body, id ? { id } : {})
    },
    async waitForMessages(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs
      while (messages.length < count) {
        if (Date.now() > deadline) {
          throw new Error(
            `${options.username}: ${messages.length} of ${count} messages after ${timeoutMs} ms`,
          )
        }
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      return messages
    },
    onMessage(listener) {
      listeners.push(listener)
    },
    async waitOnline(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (!online) {
        if (Date.now() > deadline)
          throw new Error(`${options.username}: not online after ${timeoutMs} ms`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
    async stop() {
      raw.client.reconnect.stop()
      await raw.stop()
    },
  }
}
