/**
 * An XMPP client session on a bare TCP socket, for throwing hand-made bytes
 * at a real Prosody: it logs in (SASL PLAIN, resource binding, no stream
 * management, no TLS: the test Prosody allows plaintext on loopback) and then
 * writes whatever it is given, byte for byte. @xmpp/client cannot do that: it
 * builds stanzas as elements (so no invalid UTF-8, no DOCTYPE, no comments),
 * and writing around it on its socket would break its XEP-0198 counters.
 *
 * What comes back is kept as text and read with regular expressions: enough
 * to find a reply by stanza id, a stream error, or the end of the stream.
 * (Prosody writes attributes in single quotes; both quotes are matched.)
 */
import { connect, type Socket } from 'node:net'
import { StringDecoder } from 'node:string_decoder'

const NS_CLIENT = 'jabber:client'
const NS_STREAM = 'http://etherx.jabber.org/streams'

export interface XmppSocketOptions {
  /** `xmpp://host:port` of the server (ProsodyPeer.service). */
  service: string
  domain: string
  username: string
  password: string
  /** Resource to bind (any text Prosody's resourceprep accepts). */
  resource: string
  /** `xml:lang` of the stream header. @defaultValue 'en' */
  lang?: string
  /** Send an initial `<presence/>` after binding. @defaultValue false */
  presence?: boolean
  /** How long each login step may take. @defaultValue 5000 */
  timeoutMs?: number
}

/** A stanza the session received, as far as a start tag tells. */
export interface SeenStanza {
  name: string
  id: string | undefined
  type: string | undefined
  /** The whole stanza's text when it closed in the same read, else its start tag. */
  text: string
}

export interface XmppSocket {
  /** The bound full JID. */
  readonly jid: string
  /** Everything received so far, decoded as UTF-8. */
  readonly received: string
  /** Whether the socket closed (the server ended the session). */
  readonly closed: boolean
  /** The condition of the `<stream:error/>` received, if any (e.g. `restricted-xml`). */
  streamError(): string | undefined
  /** Writes raw bytes; resolves once written (rejects if the socket is gone). */
  write(data: string | Buffer): Promise<void>
  /**
   * The stanzas received with this id (or, with `prefix`, an id starting
   * with it), from offset `since` of `received` on.
   */
  replies(id: string, options?: { since?: number; prefix?: boolean }): SeenStanza[]
  /** Resolves once `check` holds, or rejects after `timeoutMs`. */
  until(what: string, check: () => boolean, timeoutMs?: number): Promise<void>
  /** An XEP-0199 ping to `to`; resolves once answered (result or error). */
  ping(to: string, timeoutMs?: number): Promise<void>
  /** Closes the stream and the socket (idempotent). */
  close(): Promise<void>
}

let counter = 0

/** Connects and logs in; rejects if the server refuses any step. */
export async function openXmppSocket(options: XmppSocketOptions): Promise<XmppSocket> {
  const url = new URL(options.service)
  const socket = connect({ host: url.hostname, port: Number(url.port || 5222) })
  socket.setNoDelay(true)
  const session = new Session(socket, options)
  try {
    await session.login()
  } catch (err) {
    socket.destroy()
    throw err
  }
  return session
}

class Session implements XmppSocket {
  jid = ''
  received = ''
  closed = false
  readonly #socket: Socket
  readonly #options: XmppSocketOptions
  readonly #waiters = new Set<() => void>()

  constructor(socket: Socket, options: XmppSocketOptions) {
    this.#socket = socket
    this.#options = options
    const decoder = new StringDecoder('utf8')
    socket.on('data', (chunk: Buffer) => {
      this.received += decoder.write(chunk)
      this.#wake()
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      this.closed = true
      this.#wake()
    })
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter()
  }

  #header(): string {
    const lang = this.#options.lang ?? 'en'
    return `<?xml version='1.0'?><stream:stream to='${escapeAttr(this.#options.domain)}' xmlns='${NS_CLIENT}' xmlns:stream='${NS_STREAM}' xml:lang='${escapeAttr(lang)}' version='1.0'>`
  }

  async login(): Promise<void> {
    const timeoutMs = this.#options.timeoutMs ?? 5000
    await new Promise<void>((resolve, reject) => {
      this.#socket.once('connect', resolve)
      this.#socket.once('error', reject)
    })
    let mark = 0
    const step = async (what: string, send: string, pattern: RegExp) => {
      const from = mark
      await this.write(send)
      await this.until(what, () => pattern.test(this.received.slice(from)), timeoutMs)
      if (/<failure\b|<stream:error>/.test(this.received.slice(from)))
        throw new Error(`${what} refused: ${this.received.slice(from, from + 300)}`)
      mark = this.received.length
    }
    const features = /<\/stream:features>|<stream:features\/>|<stream:error>/
    await step('stream features', this.#header(), features)
    const { username, password } = this.#options
    const plain = Buffer.from(`\u0000${username}\u0000${password}`).toString('base64')
    await step(
      'SASL PLAIN',
      `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${plain}</auth>`,
      /<success\b|<failure\b/,
    )
    await step('stream restart', this.#header(), features)
    const bindId = `bind-${++counter}`
    await step(
      'resource binding',
      `<iq type='set' id='${bindId}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${escapeText(this.#options.resource)}</resource></bind></iq>`,
      new RegExp(`id=['"]${bindId}['"][^>]*>[\\s\\S]*?</iq>|<stream:error>`),
    )
    const bound = /<jid>([^<]+)<\/jid>/.exec(this.received)
    if (!bound?.[1]) throw new Error(`no JID bound: ${this.received.slice(-300)}`)
    this.jid = unescapeText(bound[1])
    if (this.#options.presence) await this.write('<presence/>')
  }

  streamError(): string | undefined {
    const error = /<stream:error>\s*<([a-z-]+)/.exec(this.received)
    return error?.[1]
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed || this.#socket.destroyed) {
        reject(new Error('the XMPP socket is closed'))
        return
      }
      this.#socket.write(data, (err) => (err ? reject(err) : resolve()))
    })
  }

  replies(id: string, options: { since?: number; prefix?: boolean } = {}): SeenStanza[] {
    const out: SeenStanza[] = []
    const text = this.received.slice(options.since ?? 0)
    const tag = /<(message|iq|presence)\b([^>]*)>/g
    for (const match of text.matchAll(tag)) {
      const attrs = match[2] ?? ''
      const stanzaId = attr(attrs, 'id')
      if (stanzaId === undefined || !(options.prefix ? stanzaId.startsWith(id) : stanzaId === id))
        continue
      const name = match[1] as string
      const start = match.index ?? 0
      const end = attrs.endsWith('/') ? start + match[0].length : text.indexOf(`</${name}>`, start)
      out.push({
        name,
        id: stanzaId,
        type: attr(attrs, 'type'),
        text: text.slice(start, end < 0 ? start + match[0].length : end + name.length + 3),
      })
    }
    return out
  }

  until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        this.#waiters.delete(test)
      }
      const test = () => {
        if (check()) {
          done()
          resolve()
        } else if (this.closed) {
          done()
          reject(new Error(`${this.jid || 'xmpp socket'}: closed while waiting for ${what}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${this.jid || 'xmpp socket'}: no ${what} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#waiters.add(test)
      test()
    })
  }

  async ping(to: string, timeoutMs = 5000): Promise<void> {
    const id = `ping-${++counter}`
    await this.write(
      `<iq type='get' id='${id}' to='${escapeAttr(to)}'><ping xmlns='urn:xmpp:ping'/></iq>`,
    )
    await this.until(`an answer to ping ${id}`, () => this.replies(id).length > 0, timeoutMs)
  }

  async close(): Promise<void> {
    if (this.closed) return
    try {
      await this.write('</stream:stream>')
    } catch {}
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#socket.destroy()
        resolve()
      }, 500)
      this.#socket.once('close', () => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
}

function attr(attrs: string, name: string): string | undefined {
  const match = new RegExp(`\\s${name}=(?:'([^']*)'|"([^"]*)")`).exec(attrs)
  const value = match?.[1] ?? match?.[2]
  return value === undefined ? undefined : unescapeText(value)
}

export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

export function escapeAttr(text: string): string {
  return escapeText(text).replace(/'/g, '&apos;').replace(/"/g, '&quot;')
}

function unescapeText(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&apos;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
}
