import { client, type Element, xml } from '@xmpp/client'

export interface ReceivedMessage {
  from: string
  id: string | undefined
  body: string
  at: number
}

export interface XmppUser {
  jid: string
  messages: ReceivedMessage[]
  /** Sends a chat message; `id` defaults to a fresh one. */
  send(to: string, body: string, id?: string): Promise<void>
  /** Resolves when `count` messages (in all) have arrived, or rejects after `timeoutMs`. */
  waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>
  onMessage(listener: (message: ReceivedMessage) => void): void
  /** Resolves when the session is online (again, after a server restart). */
  waitOnline(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

let counter = 0

/**
 * A person on the XMPP server, as a raw @xmpp/client session (no Parley
 * code): used by end-to-end tests, the demo and the benchmark. Logs in with
 * PLAIN (loopback only: SCRAM-SHA-1 costs over a second of CPU per login)
 * and reconnects on its own, as a real client does.
 */
export async function connectUser(options: {
  service: string
  domain: string
  username: string
  password: string
  resource?: string
}): Promise<XmppUser> {
  const entity = client({
    service: options.service,
    domain: options.domain,
    resource: options.resource ?? `user-${process.pid}`,
    credentials: async (authenticate: (c: object, m: string) => Promise<void>) =>
      authenticate({ username: options.username, password: options.password }, 'PLAIN'),
  } as never)
  entity.on('error', () => {})
  // Nagle's algorithm holds small stanzas back ~40 ms behind delayed ACKs.
  entity.on('connect', () =>
    (entity as unknown as { socket?: { setNoDelay(v: boolean): void } }).socket?.setNoDelay(true),
  )
  const messages: ReceivedMessage[] = []
  const listeners: Array<(m: ReceivedMessage) => void> = []
  entity.on('stanza', (stanza: Element) => {
    if (!stanza.is('message') || stanza.attrs.type === 'error') return
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
  let online = false
  entity.on('online', () => {
    online = true
    void entity.send(xml('presence')).catch(() => {})
  })
  entity.on('offline', () => {
    online = false
  })
  entity.on('disconnect', () => {
    online = false
  })
  await entity.start()
  return {
    jid: `${options.username}@${options.domain}`,
    messages,
    async send(to, body, id) {
      await entity.send(
        xml(
          'message',
          { type: 'chat', to, id: id ?? `u${process.pid}-${++counter}` },
          xml('body', {}, body),
        ),
      )
    },
    async waitForMessages(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs
      while (messages.length < count) {
        if (Date.now() > deadline) {
          throw new Error(
            `${options.username}: ${messages.length} of ${count} messages after ${timeoutMs} ms`,
          )
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      return messages
    },
    async waitOnline(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (!online) {
        if (Date.now() > deadline)
          throw new Error(`${options.username}: not online after ${timeoutMs} ms`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
    onMessage(listener) {
      listeners.push(listener)
    },
    async stop() {
      entity.reconnect?.stop?.()
      await entity.stop().catch(() => {})
    },
  }
}
