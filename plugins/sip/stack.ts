/**
 * A typed, promise-based face on the `sip` package's transaction layer:
 * requests resolve with their final response, requests received are handed
 * to one handler, and nothing it throws escapes. Dialog state (tags, CSeq,
 * route sets) is kept by the callers (see dialogs.ts); this module only
 * sends, receives and builds the common headers.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import dc from 'node:diagnostics_channel'
import { readFileSync } from 'node:fs'
import { isIP, connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import sip, { type NameAddr, type Remote, type SipRequest, type SipResponse, type Stack } from 'sip'
import type { Logger } from '../../core/contract/index.js'
import type { SipConfig, SipPeer } from './config.js'

export type { NameAddr, Remote, SipRequest, SipResponse }

/**
 * The `sip` package never closes the TCP/TLS sockets it opened or accepted
 * (they idle out after 120 s). Each stack adopts its own, found through
 * Node's diagnostics channels without patching `net`: outgoing ones by the
 * stack on the async stack (AsyncLocalStorage), accepted ones by the local
 * address and port they arrived on; outgoing TLS sockets close through an
 * AbortSignal in the package's `tls` options.
 */
const owners = new AsyncLocalStorage<SipStack>()
const byListener = new Map<string, SipStack>()
let watching = false

function watchSockets(): void {
  if (watching) return
  watching = true
  dc.subscribe('net.client.socket', (message) => {
    owners.getStore()?.adopt((message as { socket: Socket }).socket)
  })
  dc.subscribe('net.server.socket', (message) => {
    const socket = (message as { socket: Socket }).socket
    byListener.get(`${socket.localAddress}:${socket.localPort}`)?.adopt(socket)
  })
}

/** SIP bodies travel as bytes: the package counts and writes string length, so strings carry UTF-8 bytes. */
export function toWire(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1')
}

export function fromWire(content: string | undefined): string {
  return Buffer.from(content ?? '', 'latin1').toString('utf8')
}

export function newTag(): string {
  return randomBytes(6).toString('hex')
}

export function newCallId(host: string): string {
  return `${randomBytes(12).toString('hex')}@${host}`
}

/** The first header value as a string (the package parses some, not all). */
export function header(message: SipRequest | SipResponse, name: string): string | undefined {
  const value = message.headers[name]
  if (value === undefined || value === null) return undefined
  if (Array.isArray(value)) return value.length > 0 ? String(value[0]) : undefined
  return String(value)
}

export interface RequestOptions {
  method: string
  uri: string
  from: NameAddr
  to: NameAddr
  callId: string
  cseq: number
  /** Route set (dialog) or the peer's proxy for an initial request. */
  route?: NameAddr[]
  contact?: NameAddr
  headers?: Record<string, string | number>
  contentType?: string
  body?: string
}

/** The package's own body limit (it closes the connection beyond it): 4 MiB. */
const MAX_WIRE_BODY = 4 * 1024 * 1024

export interface ProbeResult {
  error?: string
  code?: string
  /** The failure is about certificates (the peer's or ours). */
  auth?: boolean
}

export interface StackHandlers {
  onRequest(request: SipRequest, remote: Remote): void
}

/** One listening SIP endpoint (UDP, TCP and optionally TLS on the configured address). */
export class SipStack {
  #stack: Stack | undefined
  readonly #sockets = new Set<Socket>()
  #abort = new AbortController()
  readonly #config: SipConfig
  readonly #log: Logger
  readonly #timeoutMs: number

  constructor(config: SipConfig, log: Logger) {
    this.#config = config
    this.#log = log
    this.#timeoutMs = config.requestTimeoutMs
  }

  get listening(): boolean {
    return this.#stack !== undefined
  }

  /** Starts listening; throws (synchronously or via the returned promise) if a port cannot be bound. */
  async start(handlers: StackHandlers): Promise<void> {
    const { listen, tls } = this.#config
    // A stack stopped (or whose start failed) may start again.
    if (this.#abort.signal.aborted) this.#abort = new AbortController()
    const tlsOptions = tls
      ? {
          cert: readFileSync(tls.cert),
          key: readFileSync(tls.key),
          ca: readFileSync(tls.ca),
          requestCert: true,
          rejectUnauthorized: tls.requireClientCert,
          signal: this.#abort.signal,
          // Outgoing TLS connections leave from the edge's own address (what its Via and Contact say).
          localAddress: listen.address,
        }
      : undefined
    watchSockets()
    for (const port of [listen.port, listen.tlsPort])
      if (port) byListener.set(`${listen.address}:${port}`, this)
    // Resolves once every listener is bound; rejects with the first that cannot be.
    let expected =
      (listen.udp ? 1 : 0) + (listen.tcp ? 1 : 0) + (tlsOptions && listen.tlsPort ? 1 : 0)
    let settle: { resolve(): void; reject(err: Error): void } | undefined
    const bound = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject }
      if (expected === 0) resolve()
    })
    this.#stack = owners.run(this, () =>
      sip.create(
        {
          onListening: () => {
            if (--expected === 0) settle?.resolve()
          },
          onListenError: (error, protocol) => {
            const err = new Error(`${protocol} ${error.message}`) as NodeJS.ErrnoException
            if (error.code !== undefined) err.code = error.code
            settle?.reject(err)
          },
          address: listen.address,
          hostname: listen.address,
          port: listen.port,
          udp: listen.udp,
          tcp: listen.tcp,
          ...(tlsOptions && listen.tlsPort && { tls: tlsOptions, tls_port: listen.tlsPort }),
          // The package drops the whole connection past this: keep it well above
          // maxBodyBytes so an oversized MESSAGE gets its 413 instead.
          maxContentLength: MAX_WIRE_BODY,
          logger: {
            error: (e) => this.#log.debug({ err: String(e) }, 'sip stack'),
            // The package stamps every Via with `port`, TLS included: a peer that
            // opens a new connection for a response (RFC 3261 §18.2.2) must reach the TLS port.
            send: (m) => {
              const via = 'method' in m ? m.headers.via?.[0] : undefined
              if (via?.protocol?.toUpperCase() === 'TLS' && listen.tlsPort)
                via.port = listen.tlsPort
            },
          },
        },
        (request, remote) => {
          try {
            handlers.onRequest(request, remote)
          } catch (err) {
            this.#log.warn(
              { code: 'PARLEY_ERR_WIRE_INVALID', method: request.method, err: String(err) },
              'request handler failed',
            )
          }
        },
      ),
    )
    try {
      await bound
    } catch (err) {
      // Nothing half-open is left behind: the listeners that did bind are closed.
      this.stop()
      throw err
    }
  }

  /** Takes charge of a socket the package opened or accepted for this stack. */
  adopt(socket: Socket): void {
    if (!this.#stack) {
      socket.destroy()
      return
    }
    this.#sockets.add(socket)
    socket.once('close', () => this.#sockets.delete(socket))
  }

  /** Stops listening and closes every connection. */
  stop(): void {
    const { listen } = this.#config
    for (const port of [listen.port, listen.tlsPort])
      if (port && byListener.get(`${listen.address}:${port}`) === this)
        byListener.delete(`${listen.address}:${port}`)
    this.#stack?.destroy()
    this.#stack = undefined
    for (const socket of this.#sockets) socket.destroy()
    this.#sockets.clear()
    this.#abort.abort()
  }

  /**
   * Opens (and closes) a connection to `peer`: reachable, or why not. A TLS
   * alert or a certificate that does not verify is `auth` (an operator's
   * problem, not a transient one). UDP cannot be probed this way: reachable.
   */
  probe(peer: SipPeer, timeoutMs = 5000): Promise<ProbeResult> {
    if (peer.transport === 'udp') return Promise.resolve({})
    const { listen, tls: files } = this.#config
    return new Promise<ProbeResult>((resolve) => {
      let done = false
      const finish = (result: ProbeResult) => {
        if (done) return
        done = true
        clearTimeout(timer)
        socket.destroy()
        resolve(result)
      }
      const fail = (err: NodeJS.ErrnoException) => {
        const code = err.code ?? 'ECONNREFUSED'
        const auth = /^ERR_SSL_|CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT/.test(code)
        finish({
          error: `${peer.host}:${peer.port} (${peer.transport}): ${err.message}`,
          code,
          auth,
        })
      }
      const socket =
        peer.transport === 'tls'
          ? tlsConnect({
              // tls.connect passes net options (localAddress) through; its types leave them out.
              ...({ localAddress: listen.address } as object),
              host: peer.host,
              port: peer.port,
              ...(files && {
                cert: readFileSync(files.cert),
                key: readFileSync(files.key),
                ca: readFileSync(files.ca),
              }),
              ...(isIP(peer.host) === 0 && { servername: peer.host }),
            })
          : netConnect({ host: peer.host, port: peer.port, localAddress: listen.address })
      const timer = setTimeout(
        () => fail(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })),
        timeoutMs,
      )
      socket.on('error', fail)
      if (peer.transport === 'tls') {
        // TLS 1.3: a server that refuses our certificate says so just after the handshake.
        socket.once('secureConnect', () => setTimeout(() => finish({}), 300))
      } else socket.once('connect', () => finish({}))
    })
  }

  /** Our own contact for `user`, on the transport a peer reaches us by. */
  contact(user: string, transport: SipPeer['transport'] = 'tcp'): NameAddr {
    const { listen } = this.#config
    const port = transport === 'tls' ? (listen.tlsPort ?? listen.port) : listen.port
    const scheme = transport === 'tls' ? 'sips' : 'sip'
    return { uri: `${scheme}:${user}@${listen.address}:${port};transport=${transport}`, params: {} }
  }

  /** Sends a request; resolves with the final response (a 408 made here if none comes in time). */
  request(options: RequestOptions): Promise<SipResponse> {
    const stack = this.#stack
    if (!stack) return Promise.reject(new Error('SIP stack not started'))
    const request = this.#build(options)
    return new Promise<SipResponse>((resolve) => {
      let settled = false
      const timer = setTimeout(() => {
        if (settled) return
        settled = true
        resolve(sip.makeResponse(request, 408, 'Request Timeout (no final response)'))
      }, this.#timeoutMs)
      try {
        owners.run(this, () =>
          stack.send(request, (response) => {
            if (response.status < 200 || settled) return
            settled = true
            clearTimeout(timer)
            resolve(response)
          }),
        )
      } catch (err) {
        settled = true
        clearTimeout(timer)
        this.#log.warn({ method: options.method, err: String(err) }, 'request could not be sent')
        resolve(sip.makeResponse(request, 503, 'Service Unavailable (not sent)'))
      }
    })
  }

  /** Sends an ACK for a 2xx to INVITE (no transaction, no response). */
  ack(options: RequestOptions): void {
    const stack = this.#stack
    if (!stack) return
    try {
      const ack = this.#build({ ...options, method: 'ACK' })
      owners.run(this, () => stack.send(ack))
    } catch (err) {
      this.#log.warn({ err: String(err) }, 'ACK could not be sent')
    }
  }

  #build(options: RequestOptions): SipRequest {
    const headers: Record<string, unknown> = {
      to: options.to,
      from: options.from,
      'call-id': options.callId,
      cseq: { method: options.method, seq: options.cseq },
      'max-forwards': 70,
      ...(options.contact && { contact: [options.contact] }),
      ...(options.route &&
        options.route.length > 0 && { route: options.route.map((r) => ({ ...r })) }),
      ...options.headers,
    }
    if (options.body !== undefined) headers['content-type'] = options.contentType ?? 'text/plain'
    const request = {
      method: options.method,
      uri: options.uri,
      headers,
      content: toWire(options.body ?? ''),
    } as unknown as SipRequest
    return request
  }

  /** Answers `request` (adds a To tag when the request had none and `toTag` is given). */
  respond(
    request: SipRequest,
    status: number,
    reason: string,
    extra: {
      headers?: Record<string, unknown>
      body?: string
      contentType?: string
      toTag?: string
    } = {},
  ): void {
    const stack = this.#stack
    if (!stack) return
    const headers: Record<string, unknown> = { ...extra.headers }
    if (extra.toTag && !request.headers.to.params?.tag) {
      headers.to = {
        ...request.headers.to,
        params: { ...request.headers.to.params, tag: extra.toTag },
      }
    }
    if (extra.body !== undefined) headers['content-type'] = extra.contentType ?? 'text/plain'
    try {
      const response = sip.makeResponse(request, status, reason, {
        headers,
        ...(extra.body !== undefined && { content: toWire(extra.body) }),
      })
      owners.run(this, () => stack.send(response))
    } catch (err) {
      this.#log.warn({ status, err: String(err) }, 'response could not be sent')
    }
  }
}
