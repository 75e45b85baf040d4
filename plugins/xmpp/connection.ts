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

import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { isIP } from 'node:net'
import {
  type CredentialsHandler,
  client,
  type Element,
  type IncomingContext,
  type XMPPErrorLike,
  type XmppClient,
  xml,
} from '@xmpp/client'
import {
  type AddressString,
  type Connection,
  type ConnectionStatus,
  type ErrorCode,
  type InboundEvent,
  type Logger,
  type OutboundMessage,
  type PluginContext,
  PluginError,
  type PresenceUpdate,
  parleyError,
  parseAddress,
  type SendResult,
  type SubscriptionRequest,
} from '../../core/contract/index.js'
import { resolveOptions, type XmppConfig, type XmppOptions } from './config.js'
import { guardInboundCounter, type InboundCounter } from './sm-counter.js'
import * as wire from './wire.js'

type Phase = 'idle' | 'connecting' | 'online' | 'degraded' | 'waiting' | 'failed'
type SessionStart = 'new' | 'resumed'

interface Attempt {
  settled: boolean
  resolve(how: SessionStart): void
  reject(err: unknown): void
}

interface PendingAck {
  resolve(): void
  reject(err: PluginError): void
  timer: NodeJS.Timeout
}

/** An inbound stanza whose XEP-0198 acknowledgement waits until it is handled (see #hold). */
interface Held {
  done: boolean
  generation: number
}

interface Failure {
  fatal: boolean
  code: ErrorCode
  reason: string
  condition?: string
}

// SASL failures an operator has to fix (RFC 6120 §6.5); anything else may pass.
const FATAL_SASL = new Set([
  'not-authorized',
  'account-disabled',
  'credentials-expired',
  'invalid-authzid',
  'invalid-mechanism',
  'mechanism-too-weak',
  'encryption-required',
  'no-usable-mechanism',
])
// Stream errors that will repeat on every attempt (RFC 6120 §4.9.3). `conflict`:
// another session bound our resource and the server kicked us; reconnecting
// would kick it in turn, and the two would take turns forever.
const FATAL_STREAM = new Set([
  'conflict',
  'host-unknown',
  'improper-addressing',
  'not-authorized',
  'invalid-namespace',
])

const STOP_GRACE_MS = 2000

export class XmppConnection implements Connection {
  readonly #ctx: PluginContext
  readonly #log: Logger
  readonly #options: Readonly<XmppOptions>
  readonly #self: wire.Self
  readonly #identity: AddressString

  #entity: XmppClient | undefined
  #inbound: InboundCounter | undefined
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

  #livenessTimer: NodeJS.Timeout | undefined
  #lastInbound = 0
  #pingInFlight = false

  readonly #acks = new Map<Element, PendingAck>()
  #ackRequested = false
  #held: Held[] = []
  #holdGeneration = 0

  #presenceSeq = 0
  readonly #contacts = new Map<string, Map<string, wire.ResourcePresence>>()
  #roster = new Map<string, wire.RosterItem>()
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
  }

  identities(): AddressString[] {
    return [this.#identity]
  }

  /** The roster as last fetched or pushed (contacts and subscription states). */
  roster(): wire.RosterItem[] {
    return [...this.#roster.values()]
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
    this.#stopLiveness()
    this.#attempt?.reject(new Error('stopped'))
    this.#settleStart(
      pluginError('PARLEY_ERR_NOT_CONNECTED', false, 'stopped before it came online'),
    )
    if (entity) {
      if ((phase === 'online' || phase === 'degraded') && entity.status === 'online') {
        // Drain: wait (briefly) until the server acknowledged what we sent,
        // then say goodbye so contacts see us offline, then close the stream.
        await this.#drain(STOP_GRACE_MS)
        await withTimeout(
          entity.send(xml('presence', { type: 'unavailable' })),
          STOP_GRACE_MS,
        ).catch(() => {})
        await withTimeout(entity.stop(), STOP_GRACE_MS).catch(() => {})
      }
      await dropSocket(entity)
    }
    for (const [stanza, pending] of this.#acks) {
      this.#acks.delete(stanza)
      clearTimeout(pending.timer)
      pending.reject(
        pluginError('PARLEY_ERR_SEND_FAILED', true, 'stopped before the server acknowledged it'),
      )
    }
    if (wasRunning) this.#report({ state: 'offline', reason: 'stopped' })
  }

  #createEntity(): XmppClient {
    const { service, domain, username, password, resource } = this.#options
    const loopback = isLoopbackService(service)
    // @xmpp/client picks SCRAM-SHA-1 unless the socket is TLS; SCRAM costs
    // over a second of CPU per login here, PLAIN ~1 ms. PLAIN is as safe
    // as the channel: allowed on TLS and on the loopback, never elsewhere.
    const credentials: CredentialsHandler = async (authenticate, mechanisms, _fast, entity) => {
      const plainOk = mechanisms.includes('PLAIN') && (entity.isSecure() || loopback)
      const mechanism = plainOk
        ? 'PLAIN'
        : mechanisms.find((m) => m !== 'PLAIN' && m !== 'ANONYMOUS')
      if (!mechanism) {
        throw Object.assign(new Error(`no usable SASL mechanism among ${mechanisms.join(', ')}`), {
          name: 'SASLError',
          condition: 'no-usable-mechanism',
        })
      }
      this.#log.debug({ mechanism, offered: mechanisms }, 'authenticating')
      await authenticate({ username, password }, mechanism)
    }
    const entity = client({ service, domain, resource, credentials })
    entity.reconnect.stop()
    this.#inbound = guardInboundCounter(entity)
    const sm = entity.streamManagement
    // We ask for <a/> ourselves right after each burst (#requestAck); the
    // library's own request (250 ms after the last stanza by default; even
    // at 0 it is a >=1 ms timer) stays only as a backstop.
    sm.requestAckDebounce = 1000
    // Liveness is ours (#checkLiveness): no periodic <r/>, no library disconnect.
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
    entity.on('element', () => {
      this.#lastInbound = Date.now()
    })
    entity.on('nonza', (element: Element) => this.#onNonza(entity, element))
    entity.on('stanza', (stanza: Element) => this.#onStanza(entity, stanza))
    sm.on('ack', (stanza: Element) => this.#settleAck(stanza))
    sm.on('fail', (stanza: Element) =>
      this.#settleAck(
        stanza,
        pluginError(
          'PARLEY_ERR_SEND_FAILED',
          true,
          'the stream was lost before the server acknowledged it',
        ),
      ),
    )
    entity.iqCallee.set(wire.NS.roster, 'query', (ctx) => this.#onRosterPush(entity, ctx))
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
      this.#lastInbound = Date.now()
      this.#startLiveness(entity)
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
      if (failure.fatal) {
        this.#running = false
        this.#phase = 'failed'
        this.#entity = undefined
        this.#report({
          state: 'failed',
          reason: failure.reason,
          retryable: false,
          condition: failure.condition,
        })
        this.#settleStart(pluginError(failure.code, false, failure.reason, failure.condition, err))
        return
      }
      this.#phase = 'waiting'
      this.#report({
        state: 'offline',
        reason: failure.reason,
        retryable: true,
        condition: failure.condition,
      })
      this.#settleStart(pluginError(failure.code, true, failure.reason, failure.condition, err))
      this.#scheduleReconnect()
    }
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
    this.#contacts.clear()
    try {
      const query = await abortable(
        entity.iqCaller.get(
          xml('query', { xmlns: wire.NS.roster }),
          undefined,
          this.#options.connectTimeoutMs,
        ),
        signal,
      )
      this.#roster = new Map(wire.readRoster(query).map((item) => [item.jid, item]))
      this.#log.info({ contacts: this.#roster.size }, 'roster fetched')
      void this.#saveRoster()
    } catch (err) {
      if (signal.aborted) throw new Error('connection lost while the session started')
      this.#log.warn({ err: describe(err) }, 'roster fetch failed; continuing without it')
    }
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
    // Acks for what we already counted are meaningless on the next stream.
    this.#resetHolds()
    this.#setup?.abort()
    if (this.#attempt) {
      this.#attempt.reject(
        this.#lastError ?? info?.reason ?? new Error('connection closed during login'),
      )
      return
    }
    if (this.#phase !== 'online' && this.#phase !== 'degraded') return
    this.#stopLiveness()
    this.#phase = 'waiting'
    const failure = classify(
      this.#lastError ?? info?.reason ?? new Error('connection closed by the server'),
    )
    this.#log.warn({ reason: failure.reason, condition: failure.condition }, 'connection lost')
    this.#report({
      state: 'offline',
      reason: failure.reason,
      retryable: true,
      condition: failure.condition,
    })
    if (failure.fatal) {
      // e.g. the account was deleted while we were online: no loop.
      this.#running = false
      this.#phase = 'failed'
      this.#entity = undefined
      this.#report({
        state: 'failed',
        reason: failure.reason,
        retryable: false,
        condition: failure.condition,
      })
      return
    }
    this.#scheduleReconnect()
  }

  #onNonza(entity: XmppClient, element: Element): void {
    if (entity !== this.#entity || element.getNS() !== wire.NS.sm) return
    // The counter itself is reset by guardInboundCounter (sm-counter.ts).
    if (element.name === 'failed') {
      this.#resetHolds()
      this.#log.info({}, 'stream management refused (resumption failed?); new session')
    } else if (element.name === 'enabled') {
      this.#resetHolds()
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

  // ------------------------------------------------------------- liveness

  #startLiveness(entity: XmppClient): void {
    this.#stopLiveness()
    const tick = Math.max(25, Math.min(1000, Math.floor(this.#options.pingIntervalMs / 4)))
    this.#livenessTimer = setInterval(() => this.#checkLiveness(entity), tick)
    this.#livenessTimer.unref()
  }

  #stopLiveness(): void {
    clearInterval(this.#livenessTimer)
    this.#livenessTimer = undefined
    this.#pingInFlight = false
  }

  /**
   * Any inbound traffic proves the server is alive; only a quiet line gets an
   * XEP-0199 ping. No answer: the peer is a zombie (socket open, nobody home),
   * so report `degraded`, drop the socket and reconnect.
   */
  #checkLiveness(entity: XmppClient): void {
    if (entity !== this.#entity || this.#phase !== 'online' || this.#pingInFlight) return
    const { pingIntervalMs, pingTimeoutMs } = this.#options
    if (Date.now() - this.#lastInbound < pingIntervalMs) return
    this.#pingInFlight = true
    entity.iqCaller
      .request(wire.pingStanza(this.#self.domain), pingTimeoutMs)
      .then(
        () => {},
        (err: unknown) => {
          // An error reply is still a reply: the server is alive.
          if ((err as Error)?.name !== 'TimeoutError') return
          if (entity !== this.#entity || this.#phase !== 'online') return
          this.#phase = 'degraded'
          const reason = `no answer to ping within ${pingTimeoutMs} ms`
          this.#log.warn({ idleMs: Date.now() - this.#lastInbound }, reason)
          this.#report({ state: 'degraded', reason, retryable: true, condition: 'ping-timeout' })
          this.#lastError = Object.assign(new Error(reason), { code: 'ping-timeout' })
          void dropSocket(entity)
        },
      )
      .finally(() => {
        this.#pingInFlight = false
      })
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
   * acknowledged it (<a h/> covering it). Stream management keeps unacked
   * stanzas across a resumed stream and re-sends them; if the stream cannot
   * be resumed, or no ack comes in `ackTimeoutMs`, the send fails retryable
   * (a retry reuses the stanza id, so a recipient can drop the duplicate).
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
    const sm = entity.streamManagement
    // The library queues the stanza for acking in its 'send' hook, which ran
    // just before `send()` resolved, with these same flags.
    if (!sm.enabled && !sm.enableSent) return
    this.#requestAck(entity)
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#acks.delete(stanza)
        reject(
          pluginError(
            'PARLEY_ERR_SEND_FAILED',
            true,
            `no acknowledgement within ${this.#options.ackTimeoutMs} ms`,
            'ack-timeout',
          ),
        )
      }, this.#options.ackTimeoutMs)
      this.#acks.set(stanza, { resolve, reject, timer })
    })
  }

  /**
   * Asks the server for an <a/> right after a burst of sends: setImmediate
   * runs after the current I/O callbacks, so concurrent sends share one <r/>.
   * Measured on loopback: ack p50 0.35-0.4 ms this way (a one-way delivery
   * is ~0.3 ms), 1.7 ms with the library's timer at 0 (a >=1 ms setTimeout),
   * 44 ms with Nagle on. Allowing only one <r/> in flight was slower (a send
   * made while one is out waits two round trips).
   */
  #requestAck(entity: XmppClient): void {
    if (this.#ackRequested) return
    this.#ackRequested = true
    setImmediate(() => {
      this.#ackRequested = false
      const sm = entity.streamManagement
      if (entity !== this.#entity || entity.status !== 'online' || !(sm.enabled || sm.enableSent))
        return
      entity.send(xml('r', { xmlns: wire.NS.sm })).catch(() => {})
    })
  }

  #settleAck(stanza: Element, err?: PluginError): void {
    const pending = this.#acks.get(stanza)
    if (!pending) return
    this.#acks.delete(stanza)
    clearTimeout(pending.timer)
    if (err) pending.reject(err)
    else pending.resolve()
  }

  async #drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.#acks.size > 0 && Date.now() < deadline) await sleep(10)
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

  // -------------------------------------------------------------- inbound

  #onStanza(entity: XmppClient, stanza: Element): void {
    if (entity !== this.#entity) return
    const deferred = stanza.name === 'message' || isSubscription(stanza)
    const held = this.#hold(entity, deferred)
    try {
      if (stanza.name === 'message') {
        void this.#onMessage(entity, stanza, held)
        return
      }
      if (stanza.name === 'presence') {
        this.#onPresence(stanza, held)
        return
      }
      // <iq/>: answered by @xmpp/client's middleware (ping, roster push, service-unavailable).
      this.#release(held)
    } catch (err) {
      this.#release(held)
      this.#wireWarning(stanza, err)
    }
  }

  async #onMessage(entity: XmppClient, stanza: Element, held: Held | undefined): Promise<void> {
    try {
      const reading = wire.readMessage(stanza, this.#self)
      switch (reading.kind) {
        case 'invalid':
          this.#wireWarning(stanza, reading.reason)
          return
        case 'ignored':
          this.#log.debug({ id: stanza.attrs.id, reason: reading.reason }, 'message ignored')
          return
        case 'error':
          // An error answering something we sent (unknown user, offline storage full...).
          this.#log.warn(
            {
              code: 'PARLEY_ERR_REMOTE_REFUSED',
              from: reading.from,
              id: reading.id,
              condition: reading.condition,
              text: reading.text,
            },
            'message bounced',
          )
          return
      }
      const { event } = reading
      try {
        await this.#ctx.emit(event)
      } catch (err) {
        if (event.type === 'message') await this.#refuse(entity, stanza, err)
        else
          this.#log.warn(
            { type: event.type, from: event.from, err: describe(err) },
            'host did not take the event',
          )
        return
      }
      if (reading.receiptRequested && stanza.attrs.from && stanza.attrs.id) {
        // XEP-0184 "received" once the host has it durably, not before.
        await this.#sendQuietly(entity, wire.receiptStanza(stanza.attrs.from, stanza.attrs.id))
      }
    } catch (err) {
      this.#wireWarning(stanza, err)
    } finally {
      this.#release(held)
    }
  }

  /** The host could not queue a message: tell the sender instead of dropping it (RFC 6120 §8.3). */
  async #refuse(entity: XmppClient, stanza: Element, err: unknown): Promise<void> {
    const retryable = PluginError.is(err)
      ? err.retryable
      : (err as { retryable?: boolean })?.retryable !== false
    const reply = wire.messageError(
      stanza,
      retryable
        ? {
            type: 'wait',
            condition: 'resource-constraint',
            text: 'temporarily unable to accept messages; try again later',
          }
        : { type: 'cancel', condition: 'service-unavailable' },
    )
    this.#log.warn(
      {
        code: 'PARLEY_ERR_QUEUE_UNAVAILABLE',
        from: stanza.attrs.from,
        id: stanza.attrs.id,
        retryable,
        err: describe(err),
      },
      'inbound message refused back to its sender',
    )
    if (reply) await this.#sendQuietly(entity, reply)
  }

  #onPresence(stanza: Element, held: Held | undefined): void {
    const reading = wire.readPresence(stanza, this.#self)
    switch (reading.kind) {
      case 'invalid':
        this.#release(held)
        this.#wireWarning(stanza, reading.reason)
        return
      case 'ignored':
        this.#release(held)
        this.#log.trace({ reason: reading.reason }, 'presence ignored')
        return
      case 'error':
        this.#release(held)
        this.#log.debug({ from: reading.from, condition: reading.condition }, 'presence error')
        return
      case 'subscription': {
        const event: InboundEvent = {
          type: 'subscription',
          from: wire.address(reading.from),
          to: this.#identity,
          remoteId: reading.id ?? `sub-${randomUUID()}`,
          action: reading.action,
          at: new Date().toISOString(),
        }
        // Held until the host has it: a pending request the host never saw is redelivered.
        this.#emitQuietly(event).finally(() => this.#release(held))
        return
      }
    }
    this.#release(held)
    if (reading.unknownShow) {
      this.#log.warn(
        { code: 'PARLEY_ERR_WIRE_INVALID', from: reading.from, show: reading.unknownShow },
        'unknown <show/> value; treated as available',
      )
    }
    let resources = this.#contacts.get(reading.from)
    if (!resources) {
      resources = new Map()
      this.#contacts.set(reading.from, resources)
    }
    if (reading.availability === 'offline') resources.delete(reading.resource)
    else {
      resources.set(reading.resource, {
        resource: reading.resource,
        availability: reading.availability,
        raw: reading.raw,
        priority: reading.priority,
        seq: ++this.#presenceSeq,
        ...(reading.status && { status: reading.status }),
      })
    }
    // One resource going offline while another stays online is not "offline".
    const best = wire.bestPresence(resources.values())
    if (resources.size === 0) this.#contacts.delete(reading.from)
    void this.#emitQuietly({
      type: 'presence',
      from: wire.address(reading.from),
      to: this.#identity,
      remoteId: reading.id ?? `pres-${randomUUID()}`,
      availability: best?.availability ?? 'offline',
      raw: best?.raw ?? reading.raw,
      at: reading.at ?? new Date().toISOString(),
      ...((best ? best.status : reading.status) && { status: best ? best.status : reading.status }),
    })
  }

  #onRosterPush(entity: XmppClient, ctx: IncomingContext): unknown {
    const from = ctx.stanza.attrs.from
    // RFC 6121 §2.1.6: only our own account (or the server, no 'from') may push.
    if (from && safeNormalize(from) !== this.#self.bare) {
      this.#wireWarning(ctx.stanza, 'roster push from a third party')
      return xml(
        'error',
        { type: 'cancel' },
        xml('service-unavailable', { xmlns: wire.NS.stanzas }),
      )
    }
    if (entity !== this.#entity) return {}
    for (const item of wire.readRoster(ctx.element)) {
      if (item.subscription === 'remove') this.#roster.delete(item.jid)
      else this.#roster.set(item.jid, item)
    }
    void this.#saveRoster()
    return {}
  }

  async #saveRoster(): Promise<void> {
    try {
      await this.#ctx.state.set('roster', JSON.stringify(this.roster()))
    } catch (err) {
      this.#log.warn({ err: describe(err) }, 'could not store the roster')
    }
  }

  async #emitQuietly(event: InboundEvent): Promise<void> {
    try {
      await this.#ctx.emit(event)
    } catch (err) {
      this.#log.warn(
        { type: event.type, from: event.from, err: describe(err) },
        'host did not take the event',
      )
    }
  }

  async #sendQuietly(entity: XmppClient, stanza: Element): Promise<void> {
    try {
      if (entity === this.#entity && entity.status === 'online') await entity.send(stanza)
    } catch (err) {
      this.#log.debug({ err: describe(err) }, 'could not send')
    }
  }

  #wireWarning(stanza: Element, reason: unknown): void {
    this.#log.warn(
      {
        code: 'PARLEY_ERR_WIRE_INVALID',
        stanza: stanza.name,
        from: stanza.attrs.from,
        id: stanza.attrs.id,
        reason: typeof reason === 'string' ? reason : describe(reason),
      },
      'unusable stanza ignored',
    )
  }

  // ---- XEP-0198 inbound acks: count a stanza as handled only once it is.
  //
  // The library counts every inbound stanza as handled the moment it is
  // parsed and reports that count to the server (<a h/>), which then forgets
  // the stanza. A message still on its way into the host's queue would be
  // lost if we crashed. So a message (or subscription) is un-counted on
  // arrival and counted back once `emit` settled (queued, or refused back to
  // the sender); any stanza arriving after one still in flight waits behind
  // it, because `h` acknowledges a prefix of the stream.

  #hold(entity: XmppClient, deferred: boolean): Held | undefined {
    const sm = entity.streamManagement
    if (!sm.enabled) return undefined
    if (!deferred && this.#held.length === 0) return undefined
    this.#inbound?.adjust(-1)
    const held: Held = { done: false, generation: this.#holdGeneration }
    this.#held.push(held)
    return held
  }

  #release(held: Held | undefined): void {
    if (!held || held.generation !== this.#holdGeneration) return
    held.done = true
    while (this.#held[0]?.done) {
      this.#held.shift()
      this.#inbound?.adjust(1)
    }
  }

  /** A new stream (or a failed one) makes the held stanzas' counts meaningless: the server re-sends what it has not seen acked. */
  #resetHolds(): void {
    this.#held = []
    this.#holdGeneration++
  }
}

// ------------------------------------------------------------------ helpers

function pluginError(
  code: ErrorCode,
  retryable: boolean,
  detail: string,
  condition?: string,
  cause?: unknown,
): PluginError {
  const message = parleyError(code, wire.NETWORK, detail).message
  return new PluginError(code, message, {
    retryable,
    ...(condition !== undefined && { condition }),
    ...(cause !== undefined && { cause }),
  })
}

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
      {
        retryable: false,
        cause: err,
      },
    )
  }
}

function isSubscription(stanza: Element): boolean {
  return stanza.name === 'presence' && wire.toSubscriptionAction(stanza.attrs.type) !== undefined
}

function safeNormalize(jid: string): string | undefined {
  try {
    return wire.normalizeId(jid)
  } catch {
    return undefined
  }
}

function classify(err: unknown): Failure {
  const e = (err ?? {}) as XMPPErrorLike & { code?: string; errno?: number }
  if (e.name === 'SASLError') {
    const condition = e.condition ?? 'sasl-failure'
    const fatal = FATAL_SASL.has(condition)
    return {
      fatal,
      code: fatal ? 'PARLEY_ERR_AUTH_FAILED' : 'PARLEY_ERR_NOT_CONNECTED',
      reason: `authentication failed: ${condition}${e.text ? ` (${e.text})` : ''}`,
      condition,
    }
  }
  if (e.name === 'StreamError') {
    const condition = e.condition ?? 'stream-error'
    return {
      fatal: FATAL_STREAM.has(condition),
      code: 'PARLEY_ERR_NOT_CONNECTED',
      reason: `stream error: ${condition}${e.text ? ` (${e.text})` : ''}`,
      condition,
    }
  }
  if (e.name === 'TimeoutError') {
    return {
      fatal: false,
      code: 'PARLEY_ERR_NOT_CONNECTED',
      reason: 'timed out',
      condition: 'timeout',
    }
  }
  const condition = typeof e.code === 'string' ? e.code : undefined
  return {
    fatal: false,
    code: 'PARLEY_ERR_NOT_CONNECTED',
    reason: e.message || String(err),
    ...(condition && { condition }),
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const condition = (err as XMPPErrorLike).condition
    return `${err.name}: ${err.message}${condition && !err.message.includes(condition) ? ` (${condition})` : ''}`
  }
  return String(err)
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

function isLoopbackService(service: string): boolean {
  let host: string
  try {
    host = new URL(service).hostname.replace(/^\[|\]$/g, '')
  } catch {
    return false
  }
  if (host === 'localhost' || host.endsWith('.localhost')) return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1'
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
