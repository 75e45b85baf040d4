/**
 * One XMPP client session for Parley (RFC 6120/6121 over @xmpp/client 0.14).
 *
 * @xmpp/client wires TCP/TLS, SASL, binding and XEP-0198 stream management;
 * this class adds what Parley needs on top, in this order:
 *   connect (jittered backoff; the library's fixed 1 s reconnect is off)
 *   -> SASL, preferring PLAIN when the channel is TLS or loopback
 *   -> bind -> roster fetch -> initial presence  (every new session)
 *   -> `online`; liveness pings when the line is quiet
 * Inbound stanzas become contract events (wire.ts); outbound stanzas resolve
 * once the server acknowledged them (XEP-0198 <a/>), so "sent" means the
 * server has it.
 */

import { once } from 'node:events'
import { client, type Element, type XmppClient, xml } from '@xmpp/client'
import {
  type AddressString,
  type Connection,
  type ConnectionStatus,
  type Logger,
  type OutboundMessage,
  type PluginContext,
  PluginError,
  type PresenceUpdate,
  parseAddress,
  type SendResult,
  type SubscriptionRequest,
} from '../../core/contract/index.js'
import { resolveOptions, type XmppConfig, type XmppOptions } from './config.js'
import { classify, describe, type Failure, pluginError } from './failure.js'
import { InboundHandler } from './inbound.js'
import { patchClient } from './library-fixes.js'
import { Liveness } from './liveness.js'
import { credentialsFor } from './sasl.js'
import { InboundHolds, NS_SM, OutboundAcks } from './stream-management.js'
import * as wire from './wire.js'

type Phase = 'idle' | 'connecting' | 'online' | 'degraded' | 'waiting' | 'failed'
type SessionStart = 'new' | 'resumed'

interface Attempt {
  settled: boolean
  resolve(how: SessionStart): void
  reject(err: unknown): void
}

const STOP_GRACE_MS = 2000

export class XmppConnection implements Connection {
  readonly #ctx: PluginContext
  readonly #log: Logger
  readonly #options: Readonly<XmppOptions>
  readonly #self: wire.Self
  readonly #identity: AddressString

  readonly #inbound: InboundHandler
  readonly #acks: OutboundAcks

  #entity: XmppClient | undefined
  #holds: InboundHolds | undefined
  #phase: Phase = 'idle'
  #running = false
  #stopping: Promise<void> | undefined
  #attempt: Attempt | undefined
  #startWaiters: Array<{ resolve(): void; reject(err: PluginError): void }> = []
  #reconnectTimer: NodeJS.Timeout | undefined
  #reconnectCount = 0
  #lastError: unknown
  /** Aborted when the socket drops while a new session is being set up (roster, presence). */
  #setup: AbortController | undefined

  readonly #liveness: Liveness

  #ownPresence: { availability: PresenceUpdate['availability']; status?: string } = {
    availability: 'available',
  }

  constructor(ctx: PluginContext, config: Readonly<XmppConfig>) {
    this.#ctx = ctx
    this.#options = resolveOptions(config)
    this.#self = {
      bare: wire.normalizeId(`${config.username}@${config.domain}`),
      domain: config.domain.toLowerCase(),
    }
    this.#identity = wire.address(this.#self.bare)
    this.#log = ctx.log.child({ jid: this.#self.bare })
    this.#acks = new OutboundAcks(this.#options.ackTimeoutMs)
    this.#liveness = new Liveness({
      intervalMs: this.#options.pingIntervalMs,
      timeoutMs: this.#options.pingTimeoutMs,
      domain: this.#self.domain,
    })
    this.#inbound = new InboundHandler({
      ctx,
      log: this.#log,
      self: this.#self,
      identity: this.#identity,
      reply: (stanza) => this.#sendQuietly(stanza),
    })
    // The host is shutting down: no more reconnecting, whatever else happens.
    ctx.signal.addEventListener('abort', () => void this.stop(), { once: true })
  }

  identities(): AddressString[] {
    return [this.#identity]
  }

  /** TLS on the stream now (STARTTLS or direct TLS): the socket is a TLSSocket. */
  transportSecure(): boolean | undefined {
    const socket = this.#entity?.socket as { encrypted?: boolean } | undefined | null
    if (!socket) return undefined
    return socket.encrypted === true
  }

  /** The roster as last fetched or pushed (contacts and subscription states). */
  roster(): wire.RosterItem[] {
    return this.#inbound.roster()
  }

  // ------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    if (this.#stopping) await this.#stopping
    if (this.#phase === 'online') return
    const online = new Promise<void>((resolve, reject) =>
      this.#startWaiters.push({ resolve, reject }),
    )
    if (!this.#running) {
      this.#running = true
      this.#reconnectCount = 0
      this.#entity = this.#createEntity()
      void this.#connect()
    } else if (this.#phase === 'waiting') {
      // Asked to start while backing off: try now rather than at the end of the delay.
      clearTimeout(this.#reconnectTimer)
      void this.#connect()
    }
    return online
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop().finally(() => {
      this.#stopping = undefined
    })
    return this.#stopping
  }

  async #stop(): Promise<void> {
    const wasRunning = this.#running
    const entity = this.#entity
    const phase = this.#phase
    this.#running = false
    this.#entity = undefined
    this.#phase = 'idle'
    clearTimeout(this.#reconnectTimer)
    this.#liveness.stop()
    this.#attempt?.reject(new Error('stopped'))
    this.#settleStart(
      pluginError('PARLEY_ERR_NOT_CONNECTED', false, 'stopped before it came online'),
    )
    if (entity) {
      if ((phase === 'online' || phase === 'degraded') && entity.status === 'online') {
        // Drain: wait (briefly) until the server acknowledged what we sent,
        // then say goodbye so contacts see us offline, then close the stream.
        await this.#acks.drain(STOP_GRACE_MS)
        await withTimeout(
          entity.send(xml('presence', { type: 'unavailable' })),
          STOP_GRACE_MS,
        ).catch(() => {})
        await withTimeout(entity.stop(), STOP_GRACE_MS).catch(() => {})
      }
      await dropSocket(entity)
    }
    this.#acks.rejectAll(
      pluginError('PARLEY_ERR_SEND_FAILED', true, 'stopped before the server acknowledged it'),
    )
    if (wasRunning) this.#report({ state: 'offline', reason: 'stopped' })
  }

  #createEntity(): XmppClient {
    const { service, domain, username, password, resource } = this.#options
    const credentials = credentialsFor({
      service,
      username,
      password,
      onChoice: (mechanism, offered) => this.#log.debug({ mechanism, offered }, 'authenticating'),
    })
    const entity = client({ service, domain, resource, credentials })
    entity.reconnect.stop()
    this.#holds = new InboundHolds(entity, patchClient(entity))
    this.#acks.attach(entity)
    const sm = entity.streamManagement
    // We ask for <a/> ourselves right after each burst (OutboundAcks); the
    // library's own request (250 ms after the last stanza by default; even
    // at 0 it is a >=1 ms timer) stays only as a backstop.
    sm.requestAckDebounce = 1000
    // Liveness is ours (liveness.ts): no periodic <r/>, no library disconnect.
    sm.requestAckInterval = 0
    sm.timeout = 0

    entity.on('error', (err: unknown) => this.#onError(entity, err))
    // Nagle would hold the <r/> that follows a stanza until the server's
    // delayed ACK (~40 ms): every acknowledged send would take 40 ms.
    entity.on('connect', () => entity.socket?.setNoDelay(true))
    entity.on('online', () => {
      if (entity === this.#entity) this.#attempt?.resolve('new')
    })
    sm.on('resumed', () => {
      if (entity === this.#entity) this.#attempt?.resolve('resumed')
    })
    entity.on('disconnect', (info?: { clean?: boolean; reason?: unknown }) =>
      this.#onDisconnect(entity, info),
    )
    entity.on('element', () => this.#liveness.touch())
    entity.on('nonza', (element: Element) => this.#onNonza(entity, element))
    entity.on('stanza', (stanza: Element) => {
      if (entity !== this.#entity || !this.#holds) return
      this.#inbound.handle(stanza, this.#holds.hold(InboundHandler.mustHold(stanza)))
    })
    entity.iqCallee.set(wire.NS.roster, 'query', (ctx) => this.#inbound.rosterPush(ctx))
    return entity
  }

  /** One connection attempt; on failure decides between backoff and giving up. */
  async #connect(): Promise<void> {
    const entity = this.#entity
    if (!entity || !this.#running) return
    this.#phase = 'connecting'
    this.#lastError = undefined
    this.#report({
      state: 'connecting',
      reason:
        this.#reconnectCount === 0
          ? 'starting'
          : `reconnecting (attempt ${this.#reconnectCount + 1})`,
    })
    const began = Date.now()
    try {
      const how = await this.#open(entity)
      this.#setup = new AbortController()
      if (how === 'new') await this.#beginSession(entity, this.#setup.signal)
      if (entity !== this.#entity) return
      if (entity.status !== 'online')
        throw this.#lastError ?? new Error('connection lost while the session started')
      this.#phase = 'online'
      this.#reconnectCount = 0
      this.#liveness.start(entity, (reason) => this.#onZombie(entity, reason))
      this.#log.info(
        { session: how, ms: Date.now() - began, sm: entity.streamManagement.enabled },
        'online',
      )
      this.#report({ state: 'online', ...(how === 'resumed' && { reason: 'stream resumed' }) })
      this.#settleStart()
    } catch (err) {
      if (entity !== this.#entity || !this.#running) return
      await dropSocket(entity)
      const failure = classify(err)
      this.#log.warn(
        { err: describe(err), condition: failure.condition },
        'connection attempt failed',
      )
      this.#afterFailure(failure, err)
    }
  }

  /** A failed attempt or a lost connection: give up for good (no loop), or report offline and back off. */
  #afterFailure(failure: Failure, cause: unknown): void {
    const { reason, condition, code, fatal } = failure
    if (fatal) {
      this.#running = false
      this.#phase = 'failed'
      this.#entity = undefined
      this.#report({ state: 'failed', reason, retryable: false, condition })
    } else {
      this.#phase = 'waiting'
      this.#report({ state: 'offline', reason, retryable: true, condition })
      this.#scheduleReconnect()
    }
    this.#settleStart(pluginError(code, !fatal, reason, condition, cause))
  }

  /** Opens the socket and stream; resolves when the library reports a bound (or resumed) session. */
  #open(entity: XmppClient): Promise<SessionStart> {
    const { service, domain, connectTimeoutMs } = this.#options
    return new Promise<SessionStart>((resolve, reject) => {
      const attempt: Attempt = {
        settled: false,
        resolve: (how) => finish(undefined, how),
        reject: (err) => finish(err),
      }
      const timer = setTimeout(
        () =>
          attempt.reject(
            Object.assign(new Error(`no session within ${connectTimeoutMs} ms`), {
              code: 'ETIMEDOUT',
            }),
          ),
        connectTimeoutMs,
      )
      const finish = (err: unknown, how?: SessionStart) => {
        if (attempt.settled) return
        attempt.settled = true
        clearTimeout(timer)
        if (this.#attempt === attempt) this.#attempt = undefined
        if (err === undefined && how) resolve(how)
        else reject(err)
      }
      this.#attempt = attempt
      entity
        .connect(service)
        .then(() => entity.open({ domain }))
        .catch((err: unknown) => attempt.reject(err))
    })
  }

  /** A new session has no presence and no roster: fetch the roster (pushes only follow a fetch), then announce presence. */
  async #beginSession(entity: XmppClient, signal: AbortSignal): Promise<void> {
    let roster: wire.RosterItem[] = []
    try {
      const query = await abortable(
        entity.iqCaller.get(
          xml('query', { xmlns: wire.NS.roster }),
          undefined,
          this.#options.connectTimeoutMs,
        ),
        signal,
      )
      roster = wire.readRoster(query)
      this.#log.info({ contacts: roster.length }, 'roster fetched')
    } catch (err) {
      if (signal.aborted) throw new Error('connection lost while the session started')
      this.#log.warn({ err: describe(err) }, 'roster fetch failed; continuing without it')
    }
    this.#inbound.newSession(roster)
    const presence = wire.presenceStanza(this.#ownPresence) ?? xml('presence')
    await entity.send(presence)
  }

  #scheduleReconnect(): void {
    const { reconnectMinMs, reconnectMaxMs } = this.#options
    const ceiling = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** this.#reconnectCount)
    // "Equal jitter": half fixed, half random, so a fleet does not reconnect in step.
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
    this.#reconnectCount++
    this.#log.debug({ delay, attempt: this.#reconnectCount + 1 }, 'reconnect scheduled')
    clearTimeout(this.#reconnectTimer)
    this.#reconnectTimer = setTimeout(() => void this.#connect(), delay)
  }

  #onError(entity: XmppClient, err: unknown): void {
    if (entity !== this.#entity) {
      this.#log.debug({ err: describe(err) }, 'error from a closed connection')
      return
    }
    this.#lastError = err
    if (this.#attempt) {
      this.#attempt.reject(err)
      return
    }
    this.#log.warn({ err: describe(err) }, 'xmpp connection error')
  }

  #onDisconnect(entity: XmppClient, info?: { clean?: boolean; reason?: unknown }): void {
    if (entity !== this.#entity) return
    // Holds of this stream mean nothing on the next one.
    this.#holds?.reset()
    this.#setup?.abort()
    if (this.#attempt) {
      this.#attempt.reject(
        this.#lastError ?? info?.reason ?? new Error('connection closed during login'),
      )
      return
    }
    if (this.#phase !== 'online' && this.#phase !== 'degraded') return
    this.#liveness.stop()
    const cause = this.#lastError ?? info?.reason ?? new Error('connection closed by the server')
    const failure = classify(cause)
    this.#log.warn({ reason: failure.reason, condition: failure.condition }, 'connection lost')
    // A fatal one (another session took our resource, the account was
    // removed) ends here: `failed`, no reconnect loop.
    this.#afterFailure(failure, cause)
  }

  #onNonza(entity: XmppClient, element: Element): void {
    if (entity !== this.#entity || element.getNS() !== NS_SM) return
    // (The counter itself is reset by library-fixes.ts.)
    if (element.name === 'failed') {
      this.#holds?.reset()
      this.#log.info({}, 'stream management refused (resumption failed?); new session')
    } else if (element.name === 'enabled') {
      this.#holds?.reset()
    }
  }

  #settleStart(err?: PluginError): void {
    const waiters = this.#startWaiters
    this.#startWaiters = []
    for (const waiter of waiters) {
      if (err) waiter.reject(err)
      else waiter.resolve()
    }
  }

  #report(status: ConnectionStatus): void {
    try {
      this.#ctx.reportStatus(status)
    } catch (err) {
      this.#log.warn({ err: describe(err) }, 'reportStatus threw')
    }
  }

  /** A ping went unanswered: say so, then drop the socket; the disconnect handler reconnects. */
  #onZombie(entity: XmppClient, reason: string): void {
    if (entity !== this.#entity || this.#phase !== 'online') return
    this.#phase = 'degraded'
    this.#log.warn({ idleMs: this.#liveness.idleMs }, reason)
    this.#report({ state: 'degraded', reason, retryable: true, condition: 'ping-timeout' })
    this.#lastError = Object.assign(new Error(reason), { code: 'ping-timeout' })
    void dropSocket(entity)
  }

  // ------------------------------------------------------------- outbound

  async send(message: OutboundMessage): Promise<SendResult> {
    this.#checkFrom(message.from)
    const to = recipient(message.to)
    const id = wire.stanzaIdFor(message.id)
    const stanza = wire.chatMessage({
      to,
      id,
      text: message.text,
      ...(message.thread && { thread: message.thread }),
    })
    await this.#sendAcked(stanza)
    return { remoteId: id }
  }

  async subscribe(request: SubscriptionRequest): Promise<void> {
    await this.#sendSubscription('subscribe', request)
  }

  async unsubscribe(request: SubscriptionRequest): Promise<void> {
    await this.#sendSubscription('unsubscribe', request)
  }

  async approve(request: SubscriptionRequest): Promise<void> {
    await this.#sendSubscription('subscribed', request)
  }

  async refuse(request: SubscriptionRequest): Promise<void> {
    await this.#sendSubscription('unsubscribed', request)
  }

  async probe(request: SubscriptionRequest): Promise<void> {
    this.#checkFrom(request.from)
    await this.#sendAcked(wire.probeStanza(recipient(request.to)))
  }

  /** Sets our presence; it is also what every new session announces. */
  async setPresence(update: PresenceUpdate): Promise<void> {
    this.#checkFrom(update.from)
    const stanza = wire.presenceStanza(update)
    if (!stanza) {
      throw new PluginError(
        'PARLEY_ERR_VALIDATION',
        `cannot announce availability '${update.availability}'`,
        {
          retryable: false,
        },
      )
    }
    this.#ownPresence = {
      availability: update.availability,
      ...(update.status && { status: update.status }),
    }
    await this.#sendAcked(stanza)
  }

  async #sendSubscription(
    type: wire.SubscriptionStanzaType,
    request: SubscriptionRequest,
  ): Promise<void> {
    this.#checkFrom(request.from)
    await this.#sendAcked(wire.subscriptionStanza(type, recipient(request.to)))
  }

  /**
   * Writes a stanza and, when XEP-0198 is on, resolves only once the server
   * acknowledged it. Stream management re-sends unacked stanzas on a resumed
   * stream; if the stream cannot be resumed, or no ack comes in
   * `ackTimeoutMs`, the send fails retryable (a retry reuses the stanza id,
   * so the recipient can recognise a duplicate).
   */
  async #sendAcked(stanza: Element): Promise<void> {
    const entity = this.#entity
    if (!entity || this.#phase !== 'online' || entity.status !== 'online') {
      throw pluginError('PARLEY_ERR_NOT_CONNECTED', true, `not online (${this.#phase})`)
    }
    try {
      await entity.send(stanza)
    } catch (err) {
      throw pluginError(
        'PARLEY_ERR_NOT_CONNECTED',
        true,
        'the connection dropped while sending',
        undefined,
        err,
      )
    }
    await this.#acks.acked(entity, stanza)
  }

  /** For answers (receipts, errors): sent if the stream is up, else dropped; never throws. */
  async #sendQuietly(stanza: Element): Promise<void> {
    const entity = this.#entity
    try {
      if (entity && entity.status === 'online') await entity.send(stanza)
    } catch (err) {
      this.#log.debug({ err: describe(err) }, 'could not send')
    }
  }

  #checkFrom(from: AddressString): void {
    let id: string
    try {
      const parsed = parseAddress(from)
      if (parsed.network !== wire.NETWORK) throw new Error(`network '${parsed.network}'`)
      id = wire.normalizeId(parsed.id)
    } catch (err) {
      throw pluginError('PARLEY_ERR_NO_IDENTITY', false, `cannot send as '${from}'`, undefined, err)
    }
    if (id !== this.#self.bare) {
      throw pluginError(
        'PARLEY_ERR_NO_IDENTITY',
        false,
        `this connection is ${this.#identity}, not ${from}`,
      )
    }
  }
}

// ------------------------------------------------------------------ helpers

/** The bare JID to send to, or a non-retryable PluginError. */
function recipient(to: AddressString): string {
  try {
    const parsed = parseAddress(to)
    if (parsed.network !== wire.NETWORK) throw new Error(`not an ${wire.NETWORK} address`)
    return wire.normalizeId(parsed.id)
  } catch (err) {
    throw new PluginError(
      'PARLEY_ERR_ADDRESS_INVALID',
      `cannot send to '${to}': ${(err as Error).message}`,
      { retryable: false, cause: err },
    )
  }
}

/**
 * Destroys the socket and waits for its 'close' (the library's disconnect
 * handling runs there); a new connect before that would have the late close
 * detach the new socket.
 */
async function dropSocket(entity: XmppClient): Promise<void> {
  const socket = entity.socket
  if (!socket) return
  const closed = socket.closed ? Promise.resolve() : once(socket, 'close').then(() => {})
  socket.destroy()
  await withTimeout(closed, 1000).catch(() => {})
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) reject(new Error('aborted'))
    signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true })
    promise.then(resolve, reject)
  })
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}
