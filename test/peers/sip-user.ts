/**
 * SIP endpoints for tests, on the `sip` npm package (kirm, 0.0.6):
 *
 * - `createSipStack()`: a `sip.create()` stack that listens on one address,
 *   port and transport and really closes: `close()` also destroys every TCP/TLS
 *   socket it accepted or opened (the package's `destroy()` closes only its
 *   listening servers; the sockets would linger for 120 s and keep tap alive).
 *   Use it for stand-ins (e.g. "Parley's edge" in Kamailio tests).
 * - `connectSipUser()`: a user agent of a Kamailio provider cloud (see
 *   kamailio.ts) that REGISTERs, sends pager MESSAGEs, PUBLISHes and
 *   SUBSCRIBEs to presence, records every request it receives and answers
 *   them (MESSAGE/NOTIFY 200 by default, a test handler for the rest).
 *
 * The package's pitfalls, handled here:
 * - every endpoint needs its own loopback address (127.0.0.3, .4...): its flow
 *   tokens compare hosts only, and it crashes when two endpoints share one;
 * - for TLS its Via carries `port`, not `tls_port`: both are set the same, and
 *   a stack listens on one transport only (TCP and TLS cannot share a port);
 * - bodies are "binary" strings (Content-Length counts string length): text
 *   is encoded to UTF-8 bytes before sending and decoded on receipt;
 * - it does transactions only: dialogs (tags, Call-ID, CSeq, route sets)
 *   are done here, minimally (no automatic refreshes);
 * - a client transaction keeps its connection referenced for 5 s after the
 *   final response (timer K); when the peer closes that connection meanwhile
 *   (a Kamailio restart or stop), the package prints
 *   `err:  Error: remote peer disconnected` with console.log. Harmless noise;
 *   stop users before Kamailio to avoid it at teardown, and call
 *   `dropConnections()` before restarting it.
 * - a listen error (port taken) would be an uncaught exception: ports come
 *   from freePort() just before.
 *
 * How sockets are tracked, without patching `net`/`tls`: outgoing TCP sockets
 * via the `net.client.socket` diagnostics channel, attributed to the stack
 * whose `send()` is on the async stack (AsyncLocalStorage); accepted TCP and
 * TLS sockets via `net.server.socket`, by local address:port (each stack has
 * its own); outgoing TLS sockets (tls.connect publishes nothing) through an
 * AbortSignal passed in the package's `tls` options.
 *
 * Debugging: PARLEY_SIP_LOG=1 prints every message sent and received.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import dc from 'node:diagnostics_channel'
import { setMaxListeners } from 'node:events'
import { createRequire } from 'node:module'
import type { Socket } from 'node:net'
import type { KamailioPeer, SipTransport } from './kamailio.js'
import { freePort } from './kamailio.js'

export type { SipTransport } from './kamailio.js'

// ---------------------------------------------------------------------------
// The `sip` package's shapes (it ships no types)

export interface SipUri {
  schema?: string
  user?: string
  password?: string
  host: string
  port?: number
  params: Record<string, string | null>
  headers?: Record<string, string>
}

/** A name-addr header value (To, From, Contact, Route...). `uri` is a string or, once parsed, an object. */
export interface SipNameAddr {
  name?: string
  uri: string | SipUri
  params: Record<string, string | null | undefined>
}

export interface SipVia {
  version?: string
  protocol?: string
  host?: string
  port?: number
  params: Record<string, string | null | undefined>
}

export interface SipHeaders {
  via?: SipVia[]
  to: SipNameAddr
  from: SipNameAddr
  'call-id': string
  cseq: { method: string; seq: number }
  contact?: SipNameAddr[] | '*'
  route?: SipNameAddr[]
  'record-route'?: SipNameAddr[]
  'content-type'?: string
  'content-length'?: number
  /** Other headers: lower-case names, values as strings (repeated headers joined with ","). */
  [name: string]: unknown
}

/** A request (`method`, `uri`) or a response (`status`, `reason`), as the package represents them. */
export interface SipMessage {
  method?: string
  uri?: string | SipUri
  status?: number
  reason?: string
  version?: string
  headers: SipHeaders
  /** The body as a "binary" string (one char per byte). */
  content?: string
}

/** Where a message came from. */
export interface SipRemote {
  protocol: string
  address: string
  port: number
  local?: { address: string; port: number }
}

interface SipLogger {
  send?(m: SipMessage, target: unknown): void
  recv?(m: SipMessage, remote: SipRemote): void
  error?(e: unknown): void
}

interface SipCreateOptions {
  address: string
  port: number
  udp: boolean
  tcp: boolean
  tls?: Record<string, unknown>
  tls_port?: number
  logger?: SipLogger
}

interface RawStack {
  send(m: SipMessage, callback?: (rs: SipMessage) => void): void
  destroy(): void
}

interface SipModule {
  create(options: SipCreateOptions, onRequest: (m: SipMessage, remote: SipRemote) => void): RawStack
  makeResponse(
    rq: SipMessage,
    status: number,
    reason?: string,
    extension?: { headers?: Record<string, unknown>; content?: string },
  ): SipMessage
  parseUri(s: string | SipUri): SipUri | undefined
  stringifyUri(u: string | SipUri): string
  stringify(m: SipMessage): string
}

const sip = createRequire(import.meta.url)('sip') as SipModule

export const parseUri = (s: string | SipUri): SipUri | undefined => sip.parseUri(s)
export const stringifyUri = (u: string | SipUri): string => sip.stringifyUri(u)

// ---------------------------------------------------------------------------
// Stacks that close their sockets

export interface SipStackOptions {
  /** Own loopback address (unique per endpoint). */
  address: string
  /** @defaultValue a free port on `address` */
  port?: number
  /** The one transport it listens on and sends with. */
  transport: SipTransport
  /** Node TLS options (key, cert, ca, requestCert, rejectUnauthorized...) for both directions. */
  tls?: Record<string, unknown>
  /** Prefix for PARLEY_SIP_LOG lines. @defaultValue the address */
  name?: string
}

export interface SipStack {
  readonly address: string
  readonly port: number
  readonly transport: SipTransport
  /** Sends a request; resolves with its final response (provisional ones are skipped), or a local 408 after `timeoutMs`. */
  request(m: SipMessage, timeoutMs?: number): Promise<SipMessage>
  /** Sends a response to a request received by this stack. */
  respond(
    rq: SipMessage,
    status: number,
    reason?: string,
    extra?: { headers?: Record<string, unknown>; body?: string },
  ): void
  /** Open sockets it tracks: accepted TCP/TLS and outgoing TCP (outgoing TLS ones are closed through an AbortSignal, not counted). */
  readonly socketCount: number
  /**
   * Destroys its TCP/TLS connections, quietly for TCP (a destroy, no 'end'),
   * and keeps listening; the next request opens a new one. Do it before
   * stopping a peer the stack was talking to (see the timer K note above).
   * Aborted outgoing TLS connections still make the package log `err:` when a
   * transaction holds them.
   */
  dropConnections(): void
  /** Destroys the stack, its servers and every socket it owns; resolves once those sockets are closed. Idempotent. */
  close(): Promise<void>
}

export type SipRequestListener = (rq: SipMessage, remote: SipRemote) => void

const owners = new AsyncLocalStorage<StackImpl>()
const listening = new Map<string, StackImpl>()
let channelsReady = false

function watchSockets(): void {
  if (channelsReady) return
  channelsReady = true
  dc.subscribe('net.client.socket', (message) => {
    owners.getStore()?.adopt((message as { socket: Socket }).socket)
  })
  dc.subscribe('net.server.socket', (message) => {
    const socket = (message as { socket: Socket }).socket
    listening.get(`${socket.localAddress}:${socket.localPort}`)?.adopt(socket)
  })
}

/** Creates a stack listening on `address:port` over `transport`. */
export async function createSipStack(
  options: SipStackOptions,
  onRequest: SipRequestListener,
): Promise<SipStack> {
  const port = options.port ?? (await freePort(options.address))
  return new StackImpl(options, port, onRequest)
}

const logging = !!process.env.PARLEY_SIP_LOG

class StackImpl implements SipStack {
  readonly address: string
  readonly port: number
  readonly transport: SipTransport
  private readonly raw: RawStack
  private readonly sockets = new Set<Socket>()
  private abort = new AbortController()
  private readonly createOptions: SipCreateOptions
  private readonly pending = new Set<() => void>()
  private closed = false
  private closing: Promise<void> | undefined

  constructor(options: SipStackOptions, port: number, onRequest: SipRequestListener) {
    this.address = options.address
    this.port = port
    this.transport = options.transport
    watchSockets()
    const key = `${this.address}:${port}`
    if (listening.has(key)) throw new Error(`a SIP stack already listens on ${key}`)
    listening.set(key, this)
    const name = options.name ?? this.address
    const logger: SipLogger = {
      error: (e) => {
        if (logging) console.error(`[sip ${name}] error`, e)
      },
    }
    if (logging) {
      logger.send = (m) => console.error(`[sip ${name}] >>>\n${sip.stringify(m)}`)
      logger.recv = (m, r) =>
        console.error(`[sip ${name}] <<< ${r.address}:${r.port}\n${sip.stringify(m)}`)
    }
    const createOptions: SipCreateOptions = {
      address: this.address,
      port,
      udp: this.transport === 'udp',
      tcp: this.transport === 'tcp',
      logger,
    }
    if (this.transport === 'tls') {
      // The package reads options.tls at every tls.connect(): the signal can be swapped.
      createOptions.tls = { ...options.tls, signal: this.newSignal() }
      createOptions.tls_port = port
    }
    this.createOptions = createOptions
    this.raw = owners.run(this, () =>
      sip.create(createOptions, (rq, remote) => {
        if (!this.closed) onRequest(rq, remote)
      }),
    )
  }

  private newSignal(): AbortSignal {
    this.abort = new AbortController()
    setMaxListeners(10_000, this.abort.signal)
    return this.abort.signal
  }

  dropConnections(): void {
    if (this.closed) return
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
    this.abort.abort()
    if (this.createOptions.tls) this.createOptions.tls.signal = this.newSignal()
  }

  get socketCount(): number {
    return this.sockets.size
  }

  adopt(socket: Socket): void {
    if (this.closed) {
      socket.destroy()
      return
    }
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
  }

  request(m: SipMessage, timeoutMs = 8000): Promise<SipMessage> {
    if (this.closed) return Promise.resolve(localResponse(m, 503, 'Stack Closed'))
    return new Promise((resolve, reject) => {
      let done = false
      const finish = (rs: SipMessage) => {
        if (done) return
        done = true
        clearTimeout(timer)
        this.pending.delete(cancel)
        resolve(rs)
      }
      const cancel = () => finish(localResponse(m, 408, 'Request Timeout (stack closed)'))
      const timer = setTimeout(
        () => finish(localResponse(m, 408, 'Request Timeout (local)')),
        timeoutMs,
      )
      this.pending.add(cancel)
      try {
        owners.run(this, () =>
          this.raw.send(m, (rs) => {
            if ((rs.status ?? 0) >= 200) finish(rs)
          }),
        )
      } catch (err) {
        // e.g. an unparsable Request-URI
        done = true
        clearTimeout(timer)
        this.pending.delete(cancel)
        reject(err)
      }
    })
  }

  respond(
    rq: SipMessage,
    status: number,
    reason?: string,
    extra: { headers?: Record<string, unknown>; body?: string } = {},
  ): void {
    if (this.closed) return
    const rs = sip.makeResponse(rq, status, reason ?? defaultReason(status))
    // makeResponse shares To with the request: copy before adding our tag.
    const to = rq.headers.to
    rs.headers.to = { ...to, params: { ...to.params } }
    if (status > 100 && !rs.headers.to.params.tag) rs.headers.to.params.tag = newTag()
    for (const [name, value] of Object.entries(extra.headers ?? {})) {
      rs.headers[name.toLowerCase()] = value
    }
    if (extra.body !== undefined) rs.content = toWire(extra.body)
    owners.run(this, () => this.raw.send(rs))
  }

  close(): Promise<void> {
    if (this.closing) return this.closing
    this.closed = true
    listening.delete(`${this.address}:${this.port}`)
    for (const cancel of [...this.pending]) cancel()
    try {
      // Shuts its transactions down (releasing connections), closes its servers.
      this.raw.destroy()
    } catch {}
    this.abort.abort()
    const sockets = [...this.sockets]
    this.sockets.clear()
    for (const socket of sockets) socket.destroy()
    this.closing = Promise.race([
      Promise.all(
        sockets.map((socket) =>
          socket.closed ? undefined : new Promise((resolve) => socket.once('close', resolve)),
        ),
      ).then(() => undefined),
      new Promise<void>((resolve) => setTimeout(resolve, 1000).unref()),
    ])
    return this.closing
  }
}

function localResponse(rq: SipMessage, status: number, reason: string): SipMessage {
  return { status, reason, headers: { ...rq.headers } }
}

// ---------------------------------------------------------------------------
// Users

export interface SipUserOptions {
  /** The provider cloud: its address, ports and pre-loaded Route. */
  kamailio: Pick<KamailioPeer, 'address' | 'port' | 'route' | 'ca'>
  username: string
  /** A provider domain (aol.test, yahoo.test, live.test). */
  domain: string
  /** Own loopback address, unique per endpoint (127.0.0.3, 127.0.0.4...). */
  address: string
  /** @defaultValue 'tcp' */
  transport?: SipTransport
  /** Own listening port. @defaultValue a free one */
  port?: number
  /**
   * TLS credentials (transport tls). Default: a certificate for this user
   * issued by `kamailio.ca` and trust in that CA. Give `{ ca }` only for a
   * client without a certificate (Kamailio refuses it).
   */
  tls?: { key?: string; cert?: string; ca?: string | string[] }
  /** REGISTER on connect. @defaultValue true */
  register?: boolean
  /** Registration expiry, seconds. @defaultValue 600 */
  expires?: number
  /** Timeout of each request. @defaultValue 8000 */
  requestTimeoutMs?: number
  /** Display name in From. */
  displayName?: string
}

/** A request the user received (also kept raw in `message`). */
export interface ReceivedRequest {
  method: string
  /** Request-URI. */
  uri: string
  /** From URI. */
  from: string
  fromTag: string | undefined
  /** To URI. */
  to: string
  toTag: string | undefined
  callId: string
  cseq: number
  /** Event header, if any. */
  event: string | undefined
  /** Subscription-State header, if any. */
  subscriptionState: string | undefined
  contentType: string | undefined
  /** The body decoded as UTF-8 ('' when none). */
  body: string
  /** Header lookup by any case (e.g. 'Content-Type'). */
  header(name: string): unknown
  message: SipMessage
  remote: SipRemote
  receivedAt: number
}

/** What a handler answers; `undefined` leaves the default answer. */
export interface SipReply {
  status: number
  reason?: string
  /** Extra headers, any case. */
  headers?: Record<string, string>
  body?: string
  contentType?: string
}

export type SipRequestHandler = (
  rq: ReceivedRequest,
) => SipReply | undefined | Promise<SipReply | undefined>

export interface SipResponse {
  status: number
  reason: string
  /** Header lookup by any case. */
  header(name: string): unknown
  body: string
  message: SipMessage
}

export interface SipSubscription {
  /** The subscribed URI (To). */
  readonly target: string
  readonly event: string
  readonly callId: string
  /** Final status of the initial SUBSCRIBE. */
  readonly status: number
  /** State from the last NOTIFY's Subscription-State (or 'pending' before any). */
  readonly state: 'pending' | 'active' | 'terminated'
  /** NOTIFYs received in this dialog, oldest first. */
  readonly notifies: readonly ReceivedRequest[]
  /** Resolves with a NOTIFY of this dialog matching `predicate` (already received ones count). */
  waitForNotify(
    predicate?: (n: ReceivedRequest) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedRequest>
  /** In-dialog SUBSCRIBE; returns its status. */
  refresh(expires?: number): Promise<number>
  /** In-dialog SUBSCRIBE with Expires: 0; returns its status. */
  unsubscribe(): Promise<number>
}

export interface SipUser {
  /** `sip:username@domain` */
  readonly aor: string
  /** The Contact it registers: `sip:username@address:port;transport=...` */
  readonly contact: string
  readonly address: string
  readonly port: number
  readonly transport: SipTransport
  /** Every request received, oldest first (ACKs included). */
  readonly received: readonly ReceivedRequest[]
  /** Answers requests first; return undefined to leave the default (MESSAGE, NOTIFY, OPTIONS, BYE: 200; INVITE 486; SUBSCRIBE 489; others 501). */
  handler: SipRequestHandler | undefined
  /** REGISTER (Expires `expires`; 0 removes the binding); returns the status. */
  register(expires?: number): Promise<number>
  /**
   * Pager-mode MESSAGE; returns the final status. `callId`: send it again as
   * the same request (same Call-ID, CSeq 1), as a client re-sending one
   * message does; by default every call is a new one.
   */
  message(
    toUri: string,
    text: string,
    options?: { contentType?: string; headers?: Record<string, string>; callId?: string },
  ): Promise<number>
  /** PUBLISH Event: presence to its own AOR; returns the SIP-ETag. Throws SipStatusError when not 2xx. */
  publish(pidfXml: string, expires?: number): Promise<string>
  /** SUBSCRIBE (Event: presence, Accept: application/pidf+xml by default); NOTIFYs are recorded on it. */
  subscribe(
    uri: string,
    expires?: number,
    options?: { event?: string; accept?: string },
  ): Promise<SipSubscription>
  /** Any out-of-dialog request through the proxy; resolves with the final response. */
  request(
    method: string,
    uri: string,
    options?: {
      headers?: Record<string, string>
      body?: string
      contentType?: string
      callId?: string
    },
  ): Promise<SipResponse>
  /** Resolves with the first received request (already received ones count) matching `predicate`. */
  waitFor(predicate: (rq: ReceivedRequest) => boolean, timeoutMs?: number): Promise<ReceivedRequest>
  /** Closes its connections, keeps its registration: see SipStack.dropConnections(). */
  dropConnections(): void
  /** Unsubscribes, unpublishes, unregisters (best effort, briefly), then closes every socket. Idempotent. */
  stop(): Promise<void>
}

export class SipStatusError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message)
  }
}

/** Connects (and by default registers) a user; throws when the registration fails. */
export async function connectSipUser(options: SipUserOptions): Promise<SipUser> {
  const transport = options.transport ?? 'tcp'
  let tls: Record<string, unknown> | undefined
  if (transport === 'tls') {
    if (options.tls) {
      tls = { ...options.tls }
    } else {
      const cert = await options.kamailio.ca.issue(
        `user-${options.username}-${options.domain}-${options.address}`,
        { dns: [options.domain], ips: [options.address] },
      )
      tls = { key: cert.key, cert: cert.cert, ca: options.kamailio.ca.ca }
    }
  }
  const user = new UserImpl(options, transport)
  await user.listen(tls)
  if (options.register ?? true) {
    const status = await user.register()
    if (status < 200 || status >= 300) {
      await user.stop()
      throw new SipStatusError(`REGISTER ${user.aor} over ${transport}: ${status}`, status)
    }
  }
  return user
}

interface Waiter {
  predicate: (rq: ReceivedRequest) => boolean
  resolve: (rq: ReceivedRequest) => void
}

/**
 * The first of `seen` matching `predicate`, or the next one offered to
 * `waiters` (whose owner calls `resolve` on each new request); rejects with
 * `timeoutMessage()` after `timeoutMs`.
 */
function waitIn(
  seen: readonly ReceivedRequest[],
  waiters: Set<Waiter>,
  predicate: (rq: ReceivedRequest) => boolean,
  timeoutMs: number,
  timeoutMessage: () => string,
): Promise<ReceivedRequest> {
  const found = seen.find(predicate)
  if (found) return Promise.resolve(found)
  return new Promise((resolve, reject) => {
    const waiter: Waiter = {
      predicate,
      resolve: (rq) => {
        clearTimeout(timer)
        waiters.delete(waiter)
        resolve(rq)
      },
    }
    const timer = setTimeout(() => {
      waiters.delete(waiter)
      reject(new Error(timeoutMessage()))
    }, timeoutMs)
    waiters.add(waiter)
  })
}

class UserImpl implements SipUser {
  readonly aor: string
  readonly address: string
  readonly transport: SipTransport
  port = 0
  readonly received: ReceivedRequest[] = []
  handler: SipRequestHandler | undefined
  private stack: SipStack | undefined
  private readonly options: SipUserOptions
  private readonly waiters = new Set<Waiter>()
  private readonly subscriptions = new Map<string, SubscriptionImpl>()
  private readonly registerCallId = newCallId()
  private registerSeq = 0
  private registered = false
  private etag: string | undefined
  private stopped: Promise<void> | undefined

  constructor(options: SipUserOptions, transport: SipTransport) {
    this.options = options
    this.transport = transport
    this.address = options.address
    this.aor = `sip:${options.username}@${options.domain}`
  }

  get contact(): string {
    return `sip:${this.options.username}@${this.address}:${this.port};transport=${this.transport}`
  }

  async listen(tls: Record<string, unknown> | undefined): Promise<void> {
    this.stack = await createSipStack(
      {
        address: this.address,
        port: this.options.port,
        transport: this.transport,
        tls,
        name: this.aor,
      },
      (rq, remote) => {
        this.onRequest(rq, remote).catch(() => {})
      },
    )
    this.port = this.stack.port
  }

  private get timeoutMs(): number {
    return this.options.requestTimeoutMs ?? 8000
  }

  /** A new out-of-dialog request through the proxy. */
  outOfDialog(
    method: string,
    uri: string,
    extra: { headers?: Record<string, unknown>; body?: string; callId?: string; seq?: number } = {},
  ): SipMessage {
    const m: SipMessage = {
      method,
      uri,
      headers: {
        to: { uri, params: {} },
        from: { name: this.fromName(), uri: this.aor, params: { tag: newTag() } },
        'call-id': extra.callId ?? newCallId(),
        cseq: { method, seq: extra.seq ?? 1 },
        contact: [{ uri: this.contact, params: {} }],
        route: [{ uri: this.options.kamailio.route(this.transport), params: {} }],
        'max-forwards': 70,
        'user-agent': 'Parley test user (sip 0.0.6)',
      },
    }
    for (const [name, value] of Object.entries(extra.headers ?? {})) {
      m.headers[name.toLowerCase()] = value
    }
    if (extra.body !== undefined) m.content = toWire(extra.body)
    return m
  }

  private fromName(): string | undefined {
    const name = this.options.displayName
    return name === undefined ? undefined : `"${name.replace(/["\\]/g, '')}"`
  }

  send(m: SipMessage, timeoutMs = this.timeoutMs): Promise<SipMessage> {
    if (!this.stack) throw new Error('not listening')
    return this.stack.request(m, timeoutMs)
  }

  async register(expires = this.options.expires ?? 600, timeoutMs?: number): Promise<number> {
    const m = this.outOfDialog('REGISTER', `sip:${this.options.domain}`, {
      callId: this.registerCallId,
      seq: ++this.registerSeq,
      headers: { expires: String(expires) },
    })
    m.headers.to = { uri: this.aor, params: {} }
    const rs = await this.send(m, timeoutMs)
    const status = rs.status ?? 0
    if (status >= 200 && status < 300) this.registered = expires > 0
    return status
  }

  async message(
    toUri: string,
    text: string,
    options: { contentType?: string; headers?: Record<string, string>; callId?: string } = {},
  ): Promise<number> {
    const rs = await this.request('MESSAGE', toUri, {
      headers: options.headers,
      body: text,
      contentType: options.contentType ?? 'text/plain;charset=UTF-8',
      callId: options.callId,
    })
    return rs.status
  }

  async request(
    method: string,
    uri: string,
    options: {
      headers?: Record<string, string>
      body?: string
      contentType?: string
      callId?: string
    } = {},
  ): Promise<SipResponse> {
    const headers: Record<string, unknown> = { ...options.headers }
    if (options.contentType) headers['content-type'] = options.contentType
    const rs = await this.send(
      this.outOfDialog(method, uri, { headers, body: options.body, callId: options.callId }),
    )
    return toResponse(rs)
  }

  async publish(pidfXml: string, expires = 600, timeoutMs?: number): Promise<string> {
    const attempt = async (ifMatch: string | undefined) => {
      const headers: Record<string, unknown> = {
        event: 'presence',
        expires: String(expires),
        'content-type': 'application/pidf+xml',
      }
      if (ifMatch) headers['sip-if-match'] = ifMatch
      const body = expires === 0 ? undefined : pidfXml
      const m = this.outOfDialog('PUBLISH', this.aor, { headers, body })
      return toResponse(await this.send(m, timeoutMs))
    }
    let rs = await attempt(this.etag)
    // The publication expired or the server restarted: publish afresh.
    if (rs.status === 412 && this.etag && expires > 0) rs = await attempt(undefined)
    if (rs.status < 200 || rs.status >= 300) {
      throw new SipStatusError(`PUBLISH ${this.aor}: ${rs.status} ${rs.reason}`, rs.status)
    }
    const etag = String(rs.header('sip-etag') ?? '')
    this.etag = expires === 0 ? undefined : etag
    return etag
  }

  async subscribe(
    uri: string,
    expires = 600,
    options: { event?: string; accept?: string } = {},
  ): Promise<SipSubscription> {
    const event = options.event ?? 'presence'
    const m = this.outOfDialog('SUBSCRIBE', uri, {
      headers: {
        event,
        accept: options.accept ?? 'application/pidf+xml',
        expires: String(expires),
      },
    })
    const sub = new SubscriptionImpl(this, m, uri, event)
    this.subscriptions.set(sub.callId, sub)
    const rs = await this.send(m)
    sub.established(rs)
    if (sub.status >= 300) this.subscriptions.delete(sub.callId)
    return sub
  }

  waitFor(predicate: (rq: ReceivedRequest) => boolean, timeoutMs = 5000): Promise<ReceivedRequest> {
    return waitIn(this.received, this.waiters, predicate, timeoutMs, () => {
      const seen = this.received.map((r) => `${r.method} from ${r.from}`).join(', ') || 'nothing'
      return `${this.aor}: no matching request within ${timeoutMs} ms (received: ${seen})`
    })
  }

  private async onRequest(rq: SipMessage, remote: SipRemote): Promise<void> {
    const record = toReceived(rq, remote)
    this.received.push(record)
    if (record.method === 'NOTIFY') this.subscriptions.get(record.callId)?.notified(record)
    for (const waiter of [...this.waiters]) {
      if (waiter.predicate(record)) waiter.resolve(record)
    }
    if (record.method === 'ACK') return
    let reply: SipReply | undefined
    try {
      reply = await this.handler?.(record)
    } catch (err) {
      reply = {
        status: 500,
        reason: String(err)
          .slice(0, 80)
          .replace(/[\r\n]/g, ' '),
      }
    }
    reply ??= defaultReply(record.method)
    const headers: Record<string, unknown> = { ...reply.headers }
    if (reply.contentType) headers['content-type'] = reply.contentType
    if (
      reply.status >= 200 &&
      reply.status < 300 &&
      (record.method === 'INVITE' || record.method === 'SUBSCRIBE')
    ) {
      headers.contact ??= [{ uri: this.contact, params: {} }]
      // The route set is the Record-Route, in order, on the UAS side.
      const rr = rq.headers['record-route']
      if (rr) headers['record-route'] ??= rr
    }
    this.stack?.respond(rq, reply.status, reply.reason, { headers, body: reply.body })
  }

  dropConnections(): void {
    this.stack?.dropConnections()
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      const quick = 1500
      const goodbyes: Promise<unknown>[] = []
      for (const sub of this.subscriptions.values()) {
        if (sub.state !== 'terminated' && sub.status < 300) goodbyes.push(sub.unsubscribe(quick))
      }
      if (this.etag) goodbyes.push(this.publish('', 0, quick).catch(() => {}))
      if (this.registered) goodbyes.push(this.register(0, quick))
      await Promise.allSettled(goodbyes)
      await this.stack?.close()
      this.waiters.clear()
    })()
    return this.stopped
  }

  /** Sends an in-dialog request built by a subscription. */
  inDialog(m: SipMessage, timeoutMs?: number): Promise<SipMessage> {
    return this.send(m, timeoutMs)
  }
}

class SubscriptionImpl implements SipSubscription {
  readonly target: string
  readonly event: string
  readonly callId: string
  status = 0
  state: 'pending' | 'active' | 'terminated' = 'pending'
  readonly notifies: ReceivedRequest[] = []
  private readonly user: UserImpl
  private readonly from: SipNameAddr
  private remoteTag: string | undefined
  private remoteTarget: string
  private routeSet: SipNameAddr[] = []
  private routeSetFixed = false
  private seq: number
  private readonly waiters = new Set<Waiter>()

  constructor(user: UserImpl, initial: SipMessage, target: string, event: string) {
    this.user = user
    this.target = target
    this.event = event
    this.callId = initial.headers['call-id']
    this.from = initial.headers.from
    this.seq = initial.headers.cseq.seq
    this.remoteTarget = target
  }

  established(rs: SipMessage): void {
    this.status = rs.status ?? 0
    if (this.status < 200 || this.status >= 300) {
      this.state = 'terminated'
      return
    }
    this.remoteTag ??= tagOf(rs.headers.to)
    const contact = firstContact(rs)
    if (contact) this.remoteTarget = contact
    // UAC: the route set is the Record-Route of the response, reversed.
    this.routeSet = [...(rs.headers['record-route'] ?? [])].reverse()
    this.routeSetFixed = true
  }

  notified(rq: ReceivedRequest): void {
    this.notifies.push(rq)
    this.remoteTag ??= rq.fromTag
    const contact = firstContact(rq.message)
    if (contact) this.remoteTarget = contact
    if (!this.routeSetFixed) {
      // A NOTIFY before the 200: its Record-Route, in order, is the route set.
      this.routeSet = [...(rq.message.headers['record-route'] ?? [])]
      this.routeSetFixed = true
    }
    const state = (rq.subscriptionState ?? '').split(';')[0]?.trim().toLowerCase()
    if (state === 'active' || state === 'pending' || state === 'terminated') this.state = state
    for (const waiter of [...this.waiters]) {
      if (waiter.predicate(rq)) waiter.resolve(rq)
    }
  }

  waitForNotify(
    predicate: (n: ReceivedRequest) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<ReceivedRequest> {
    return waitIn(
      this.notifies,
      this.waiters,
      predicate,
      timeoutMs,
      () =>
        `no matching NOTIFY for ${this.event} of ${this.target} within ${timeoutMs} ms (${this.notifies.length} received)`,
    )
  }

  async refresh(expires = 600, timeoutMs?: number): Promise<number> {
    const m: SipMessage = {
      method: 'SUBSCRIBE',
      uri: this.remoteTarget,
      headers: {
        to: { uri: this.target, params: this.remoteTag ? { tag: this.remoteTag } : {} },
        from: this.from,
        'call-id': this.callId,
        cseq: { method: 'SUBSCRIBE', seq: ++this.seq },
        contact: [{ uri: this.user.contact, params: {} }],
        route: this.routeSet.map((r) => ({ ...r, params: { ...r.params } })),
        'max-forwards': 70,
        event: this.event,
        expires: String(expires),
      },
    }
    const rs = await this.user.inDialog(m, timeoutMs)
    const status = rs.status ?? 0
    if (expires === 0 && status >= 200) this.state = 'terminated'
    return status
  }

  unsubscribe(timeoutMs?: number): Promise<number> {
    return this.refresh(0, timeoutMs)
  }
}

// ---------------------------------------------------------------------------
// Helpers

/** A minimal PIDF document (RFC 3863) for PUBLISH. */
export function buildPidf(entity: string, basic: 'open' | 'closed', note?: string): string {
  const xml = (s: string) =>
    s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
  const tuple = `t${randomBytes(4).toString('hex')}`
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${xml(entity)}">`,
    `  <tuple id="${tuple}"><status><basic>${basic}</basic></status></tuple>`,
    ...(note === undefined ? [] : [`  <note>${xml(note)}</note>`]),
    '</presence>',
    '',
  ].join('\n')
}

/** Text → the package's "binary" string (UTF-8 bytes, one char each). */
export function toWire(text: string): string {
  return Buffer.from(text, 'utf8').toString('binary')
}

/** The package's "binary" body → text. */
export function fromWire(content: string | undefined): string {
  return Buffer.from(content ?? '', 'binary').toString('utf8')
}

function headerOf(m: SipMessage, name: string): unknown {
  return m.headers[name.toLowerCase()]
}

function uriString(value: SipNameAddr | undefined): string {
  if (!value) return ''
  return typeof value.uri === 'string' ? value.uri : sip.stringifyUri(value.uri)
}

function tagOf(value: SipNameAddr | undefined): string | undefined {
  const tag = value?.params.tag
  return typeof tag === 'string' ? tag : undefined
}

function firstContact(m: SipMessage): string | undefined {
  const contact = m.headers.contact
  if (!Array.isArray(contact) || contact.length === 0) return undefined
  return uriString(contact[0])
}

function toReceived(rq: SipMessage, remote: SipRemote): ReceivedRequest {
  const stringHeader = (name: string) => {
    const value = headerOf(rq, name)
    return typeof value === 'string' ? value : undefined
  }
  return {
    method: rq.method ?? '',
    uri: typeof rq.uri === 'string' ? rq.uri : rq.uri ? sip.stringifyUri(rq.uri) : '',
    from: uriString(rq.headers.from),
    fromTag: tagOf(rq.headers.from),
    to: uriString(rq.headers.to),
    toTag: tagOf(rq.headers.to),
    callId: rq.headers['call-id'],
    cseq: rq.headers.cseq?.seq ?? 0,
    event: stringHeader('event'),
    subscriptionState: stringHeader('subscription-state'),
    contentType: stringHeader('content-type'),
    body: fromWire(rq.content),
    header: (name) => headerOf(rq, name),
    message: rq,
    remote,
    receivedAt: Date.now(),
  }
}

function toResponse(rs: SipMessage): SipResponse {
  return {
    status: rs.status ?? 0,
    reason: rs.reason ?? '',
    header: (name) => headerOf(rs, name),
    body: fromWire(rs.content),
    message: rs,
  }
}

function defaultReply(method: string): SipReply {
  switch (method) {
    case 'MESSAGE':
    case 'NOTIFY':
    case 'OPTIONS':
    case 'BYE':
    case 'CANCEL':
      return { status: 200 }
    case 'INVITE':
      return { status: 486 }
    case 'SUBSCRIBE':
      return { status: 489 }
    default:
      return { status: 501 }
  }
}

function defaultReason(status: number): string {
  const reasons: Record<number, string> = {
    100: 'Trying',
    180: 'Ringing',
    200: 'OK',
    202: 'Accepted',
    400: 'Bad Request',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    408: 'Request Timeout',
    480: 'Temporarily Unavailable',
    481: 'Call/Transaction Does Not Exist',
    486: 'Busy Here',
    487: 'Request Terminated',
    489: 'Bad Event',
    500: 'Server Internal Error',
    501: 'Not Implemented',
    503: 'Service Unavailable',
    603: 'Decline',
  }
  return reasons[status] ?? 'Unknown'
}

function newTag(): string {
  return randomBytes(6).toString('hex')
}

function newCallId(): string {
  return `${randomBytes(10).toString('hex')}@parley-test`
}
