/**
 * The SIP/SIMPLE federation edge as a contract Connection:
 * - IM: pager-mode MESSAGE (RFC 3428) out; MESSAGE in, alone or inside an
 *   INVITE session (`m=message`), answered 200 only once the host has it;
 * - presence: SUBSCRIBE/NOTIFY (RFC 6665, RFC 3856) with PIDF bodies, both
 *   ways; a stranger's SUBSCRIBE is held `pending` until the host approves;
 * - audio/video INVITEs are refused (Parley carries no media).
 * Nothing a peer sends can throw out of here: unusable requests get the
 * right SIP error and a PARLEY_ERR_WIRE_INVALID log line.
 */
import { createHash } from 'node:crypto'
import { promises as dnsPromises } from 'node:dns'
import {
  type AddressString,
  type Availability,
  type Connection,
  type OutboundMessage,
  type PluginContext,
  PluginError,
  type PresenceUpdate,
  type SendResult,
  type SubscriptionRequest,
} from '../../core/contract/index.js'
import type { SipConfig, SipPeer } from './config.js'
import {
  completeFromResponse,
  type Dialog,
  dialogFromRequest,
  dialogParties,
  expiresOf,
  type InSubscription,
  type OutSubscription,
  subscriptionState,
} from './dialogs.js'
import { discoverPeer } from './discovery.js'
import { buildPidf, readPidf } from './pidf.js'
import { decorateLive, normalizeSipUri, sipDomain, undecorateLive } from './sip-uri.js'
import {
  fromWire,
  header,
  type NameAddr,
  newCallId,
  newTag,
  type Remote,
  type SipRequest,
  type SipResponse,
  SipStack,
} from './stack.js'

/** How long a peer found by DNS SRV is used before it is looked up again. */
const DISCOVERY_TTL_MS = 300_000
const ALLOW = 'INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, SUBSCRIBE, NOTIFY'
/** Responses that mean "try again later" (RFC 3261 §21). */
const RETRYABLE = new Set([408, 480, 486, 500, 503, 504, 600])
/** Approved watchers are kept in the plugin state under this key. */
const APPROVED_KEY = 'approved-watchers'

export class SipConnection implements Connection {
  readonly #ctx: PluginContext
  readonly #config: SipConfig
  readonly #stack: SipStack
  readonly #identities: Map<string, AddressString>
  /** Outbound subscriptions (we watch), by Call-ID. */
  readonly #out = new Map<string, OutSubscription>()
  /** Inbound subscriptions (they watch us), by Call-ID. */
  readonly #in = new Map<string, InSubscription>()
  /** IM sessions accepted from peers (INVITE with m=message), by Call-ID. */
  readonly #sessions = new Set<string>()
  /** IM sessions Parley opened (session mode), by `identity|recipient`. */
  readonly #outSessions = new Map<string, Promise<Dialog>>()
  /** `identity|watcher` pairs the host approved. */
  #approved = new Set<string>()
  readonly #licensedSet: Set<string>
  readonly #own = new Map<string, { availability: Availability; status?: string }>()
  #started = false
  /** Our publications at the presence server, by identity: entity tag and refresh timer. */
  readonly #publications = new Map<string, { etag?: string; refresh?: NodeJS.Timeout }>()
  /** Peers found by SRV discovery, by domain, until their entry expires. */
  readonly #discovered = new Map<string, { peer: SipPeer; until: number }>()
  #probeTimer: NodeJS.Timeout | undefined
  /** Another try at binding the listeners, while their address is in use. */
  #listenTimer: NodeJS.Timeout | undefined
  #listenFailures = 0
  /** Between start() and stop(): a listener retry may run. */
  #wanted = false
  #probeFailures = 0
  #lastProbeError = ''

  constructor(ctx: PluginContext, config: SipConfig) {
    this.#ctx = ctx
    this.#config = config
    this.#stack = new SipStack(config, ctx.log)
    this.#licensedSet = new Set(
      (config.licensed ?? []).map((id) =>
        normalizeSipUri(id.includes('@') ? id : `${id}@${config.domain}`),
      ),
    )
    this.#identities = new Map(
      config.identities.map((id) => {
        const uri = normalizeSipUri(id.includes('@') ? id : `${id}@${config.domain}`)
        return [uri, this.#address(uri)]
      }),
    )
  }

  identities(): AddressString[] {
    return [...this.#identities.values()]
  }

  async start(): Promise<void> {
    if (this.#started) return
    this.#wanted = true
    clearTimeout(this.#listenTimer)
    this.#ctx.reportStatus({ state: 'connecting', reason: 'binding listeners' })
    try {
      const stored = await this.#ctx.state.get(APPROVED_KEY).catch(() => undefined)
      if (stored) this.#approved = new Set(JSON.parse(stored) as string[])
    } catch {
      this.#ctx.log.warn({}, 'stored approvals unreadable; starting with none')
    }
    try {
      await this.#stack.start({ onRequest: (rq, remote) => this.#onRequest(rq, remote) })
    } catch (err) {
      const where = `${this.#config.listen.address}:${this.#config.listen.port}`
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EADDRINUSE') {
        // Someone holds the address now (e.g. a paused host process that lost
        // this network's lease and has not closed it yet): try again later.
        const reason = `cannot listen on ${where}: ${(err as Error).message}; retrying`
        this.#ctx.reportStatus({ state: 'offline', reason, retryable: true, condition: code })
        this.#retryListen()
        throw new PluginError('PARLEY_ERR_PLUGIN_START', reason, { retryable: true, cause: err })
      }
      const failure = new PluginError(
        'PARLEY_ERR_PLUGIN_START',
        `cannot listen on ${where}: ${(err as Error).message}`,
        { retryable: false, cause: err },
      )
      this.#ctx.reportStatus({ state: 'failed', reason: failure.message, retryable: false })
      throw failure
    }
    this.#listenFailures = 0
    this.#started = true
    for (const uri of this.#identities.keys()) this.#own.set(uri, { availability: 'available' })
    // Reachable peers are what "online" means for an edge: probe them now, then every probeIntervalMs.
    const state = await this.#probe()
    if (this.#config.presenceServer)
      await Promise.allSettled([...this.#identities.keys()].map((id) => this.#publish(id)))
    this.#scheduleProbe(state === 'online' ? this.#config.probeIntervalMs : this.#backoff())
    if (state === 'failed') {
      const failure = new PluginError('PARLEY_ERR_AUTH_FAILED', this.#lastProbeError, {
        retryable: false,
      })
      throw failure
    }
    if (state !== 'online' && state !== 'degraded') {
      throw new PluginError('PARLEY_ERR_NOT_CONNECTED', this.#lastProbeError, { retryable: true })
    }
  }

  /**
   * Opens a connection to every TCP/TLS peer: all reachable is `online`,
   * some `degraded`, none `offline`; a TLS handshake the peer rejects (or a
   * certificate we cannot verify) is `failed`, an operator's problem.
   * UDP peers cannot be probed this way and count as reachable.
   */
  async #probe(): Promise<'online' | 'degraded' | 'offline' | 'failed'> {
    const results = await Promise.all(this.#config.peers.map((peer) => this.#stack.probe(peer)))
    const failures = results.filter((r) => r.error)
    const auth = failures.find((r) => r.auth)
    this.#lastProbeError = failures.map((f) => f.error).join('; ')
    let state: 'online' | 'degraded' | 'offline' | 'failed'
    if (auth) state = 'failed'
    else if (failures.length === 0) state = 'online'
    else if (failures.length < results.length) state = 'degraded'
    else state = 'offline'
    if (!this.#started) return state
    if (state === 'online') this.#ctx.reportStatus({ state: 'online' })
    else
      this.#ctx.reportStatus({
        state,
        reason: this.#lastProbeError,
        retryable: state !== 'failed',
        condition: auth
          ? 'PARLEY_ERR_AUTH_FAILED'
          : (failures[0]?.code ?? 'PARLEY_ERR_NOT_CONNECTED'),
      })
    this.#probeFailures = state === 'online' ? 0 : this.#probeFailures + 1
    return state
  }

  #scheduleProbe(delayMs: number): void {
    clearTimeout(this.#probeTimer)
    if (!this.#started) return
    const retrying = this.#probeFailures > 0
    this.#probeTimer = setTimeout(async () => {
      if (retrying) this.#ctx.reportStatus({ state: 'connecting', reason: 'probing peers again' })
      const state = await this.#probe().catch(() => 'offline' as const)
      this.#scheduleProbe(state === 'online' ? this.#config.probeIntervalMs : this.#backoff())
    }, delayMs)
    this.#probeTimer.unref()
  }

  /** Jittered exponential backoff between probes of unreachable peers. */
  #backoff(failures = this.#probeFailures): number {
    const { reconnectMinMs, reconnectMaxMs } = this.#config
    const ceiling = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** Math.min(failures, 16))
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2))
  }

  #retryListen(): void {
    clearTimeout(this.#listenTimer)
    this.#listenTimer = setTimeout(
      () => {
        if (!this.#wanted || this.#started) return
        this.start().catch(() => {
          // Reported as a status; the next try is already scheduled (or it failed for good).
        })
      },
      this.#backoff(this.#listenFailures++),
    )
    this.#listenTimer.unref()
  }

  async stop(): Promise<void> {
    this.#wanted = false
    clearTimeout(this.#listenTimer)
    if (!this.#started) return
    this.#started = false
    clearTimeout(this.#probeTimer)
    for (const sub of this.#out.values()) clearTimeout(sub.refresh)
    // Tell watchers the subscriptions end, and end ours (best effort, bounded).
    await Promise.race([
      Promise.allSettled([
        ...[...this.#in.values()].map((s) => this.#notify(s, 'terminated;reason=noresource')),
        ...[...this.#out.values()].map((s) => this.#subscribeIn(s, 0)),
        ...[...this.#publications.keys()].map((id) => this.#publish(id, 0)),
        ...[...this.#outSessions.values()].map(async (session) =>
          this.#inDialog(await session, 'BYE', {}),
        ),
      ]),
      new Promise((resolve) => setTimeout(resolve, 2000)),
    ])
    this.#out.clear()
    this.#in.clear()
    this.#outSessions.clear()
    this.#stack.stop()
    this.#ctx.reportStatus({ state: 'offline', reason: 'stopped' })
  }

  async send(message: OutboundMessage): Promise<SendResult> {
    this.#requireStarted()
    const from = this.#identityUri(message.from)
    const to = this.#remoteUri(message.to)
    await this.#ensurePeer(to)
    if (this.#config.imMode === 'session') return this.#sendInSession(from, to, message.text)
    // Derived from Parley's message id: a retry is the same SIP request, and keeps its remote id.
    const callId = stableCallId(message.id, this.#config.domain)
    const response = await this.#initial('MESSAGE', from, to, callId, {
      contentType: 'text/plain; charset=utf-8',
      body: message.text,
    })
    this.#check(response, `MESSAGE to ${to}`)
    return { remoteId: callId }
  }

  /**
   * Session mode (as Lync's IM sessions): an INVITE with `m=message` opens a
   * dialog per (identity, recipient), reused by later messages; MESSAGEs go
   * inside it. A session the peer ended (481) is opened again once.
   */
  async #sendInSession(from: string, to: string, text: string): Promise<SendResult> {
    for (let attempt = 1; ; attempt++) {
      const session = await this.#session(from, to)
      const response = await this.#inDialog(session, 'MESSAGE', {
        contentType: 'text/plain; charset=utf-8',
        body: text,
      })
      if (response.status === 481 && attempt === 1) {
        this.#outSessions.delete(`${from}|${to}`)
        continue
      }
      this.#check(response, `MESSAGE to ${to} (session)`)
      return { remoteId: `${session.callId}|${session.cseq - 1}` }
    }
  }

  #session(from: string, to: string): Promise<Dialog> {
    const key = `${from}|${to}`
    let session = this.#outSessions.get(key)
    if (!session) {
      session = this.#invite(from, to)
      this.#outSessions.set(key, session)
      session.catch(() => this.#outSessions.delete(key))
    }
    return session
  }

  async #invite(from: string, to: string): Promise<Dialog> {
    const callId = newCallId(this.#config.domain)
    const dialog: Dialog = {
      callId,
      localTag: newTag(),
      remoteTag: undefined,
      localUri: from,
      remoteUri: to,
      remoteTarget: to,
      routeSet: this.#peerRoute(to),
      cseq: 1,
      transport: this.#peerFor(to).transport,
    }
    const sdp = messageSdp(this.#config.listen.address, this.#config.listen.port)
    const invite = await this.#inDialog(dialog, 'INVITE', {
      contentType: 'application/sdp',
      body: sdp,
    })
    this.#check(invite, `INVITE to ${to}`)
    completeFromResponse(dialog, invite)
    const { from: fromHeader, to: toHeader } = dialogParties(dialog)
    this.#stack.ack({
      method: 'ACK',
      uri: dialog.remoteTarget,
      from: fromHeader,
      to: toHeader,
      callId,
      cseq: invite.headers.cseq.seq,
      route: dialog.routeSet,
    })
    return dialog
  }

  async subscribe(request: SubscriptionRequest): Promise<void> {
    this.#requireStarted()
    const identity = this.#identityUri(request.from)
    const remote = this.#remoteUri(request.to)
    await this.#ensurePeer(remote)
    const existing = [...this.#out.values()].find(
      (s) => s.identity === identity && s.remoteUri === remote,
    )
    if (existing) {
      this.#check(await this.#subscribeIn(existing, this.#config.subscribeExpires), 'SUBSCRIBE')
      return
    }
    const callId = newCallId(this.#config.domain)
    const sub: OutSubscription = {
      kind: 'out',
      identity,
      callId,
      localTag: newTag(),
      remoteTag: undefined,
      localUri: identity,
      remoteUri: remote,
      remoteTarget: remote,
      routeSet: this.#peerRoute(remote),
      cseq: 1,
      transport: this.#peerFor(remote).transport,
      expires: this.#config.subscribeExpires,
      active: false,
    }
    // Registered before sending: the first NOTIFY may overtake the 2xx.
    this.#out.set(callId, sub)
    const response = await this.#subscribeIn(sub, sub.expires)
    if (response.status >= 300) this.#out.delete(callId)
    this.#check(response, `SUBSCRIBE to ${remote}`)
  }

  async unsubscribe(request: SubscriptionRequest): Promise<void> {
    const identity = this.#identityUri(request.from)
    const remote = this.#remoteUri(request.to)
    for (const sub of [...this.#out.values()]) {
      if (sub.identity !== identity || sub.remoteUri !== remote) continue
      clearTimeout(sub.refresh)
      this.#out.delete(sub.callId)
      await this.#subscribeIn(sub, 0)
    }
  }

  async approve(request: SubscriptionRequest): Promise<void> {
    const identity = this.#identityUri(request.from)
    const watcher = this.#remoteUri(request.to)
    this.#approved.add(`${identity}|${watcher}`)
    await this.#saveApprovals()
    for (const sub of this.#in.values()) {
      if (sub.identity !== identity || sub.remoteUri !== watcher) continue
      sub.state = 'active'
      await this.#notify(sub, this.#activeState(sub))
    }
  }

  async refuse(request: SubscriptionRequest): Promise<void> {
    const identity = this.#identityUri(request.from)
    const watcher = this.#remoteUri(request.to)
    this.#approved.delete(`${identity}|${watcher}`)
    await this.#saveApprovals()
    for (const sub of [...this.#in.values()]) {
      if (sub.identity !== identity || sub.remoteUri !== watcher) continue
      this.#in.delete(sub.callId)
      await this.#notify(sub, 'terminated;reason=rejected')
    }
  }

  async setPresence(update: PresenceUpdate): Promise<void> {
    const identity = this.#identityUri(update.from)
    this.#own.set(identity, {
      availability: update.availability,
      ...(update.status && { status: update.status }),
    })
    await Promise.allSettled(
      [...this.#in.values()]
        .filter((s) => s.identity === identity && s.state === 'active')
        .map((s) => this.#notify(s, this.#activeState(s))),
    )
    if (this.#config.presenceServer) await this.#publish(identity)
  }

  #requireStarted(): void {
    if (!this.#started)
      throw new PluginError('PARLEY_ERR_NOT_CONNECTED', 'the SIP edge is not started', {
        retryable: true,
      })
  }

  // ------------------------------------------------------------ requests in

  #onRequest(request: SipRequest, remote: Remote): void {
    const handled = (work: Promise<void>) =>
      work.catch((err: unknown) =>
        this.#ctx.log.warn(
          {
            code: 'PARLEY_ERR_WIRE_INVALID',
            method: request.method,
            callId: request.headers['call-id'],
            err: (err as Error)?.message ?? String(err),
          },
          'request handling failed',
        ),
      )
    switch (request.method) {
      case 'MESSAGE':
        void handled(this.#onMessage(request))
        return
      case 'SUBSCRIBE':
        void handled(this.#onSubscribe(request))
        return
      case 'NOTIFY':
        void handled(this.#onNotify(request))
        return
      case 'INVITE':
        this.#onInvite(request, remote)
        return
      case 'BYE': {
        // RFC 3261 §15.1.2: a BYE for no dialog of ours is 481.
        const known = this.#sessions.delete(request.headers['call-id'])
        if (known) this.#stack.respond(request, 200, 'OK')
        else this.#stack.respond(request, 481, 'Call/Transaction Does Not Exist')
        return
      }
      case 'CANCEL':
        // INVITEs are answered at once, so there is never a pending one to cancel (RFC 3261 §9.2).
        this.#stack.respond(request, 481, 'Call/Transaction Does Not Exist')
        return
      case 'ACK':
        return
      case 'OPTIONS':
        this.#stack.respond(request, 200, 'OK', {
          headers: { allow: ALLOW, accept: 'text/plain, application/pidf+xml' },
        })
        return
      default:
        this.#stack.respond(request, 405, 'Method Not Allowed', { headers: { allow: ALLOW } })
    }
  }

  /** The Parley identity a request is for (its Request-URI or To), or undefined. */
  #target(request: SipRequest): string | undefined {
    for (const candidate of [request.uri, request.headers.to?.uri]) {
      try {
        const uri = normalizeSipUri(String(candidate ?? ''))
        if (this.#identities.has(uri)) return uri
      } catch {}
    }
    return undefined
  }

  #sender(request: SipRequest): string | undefined {
    try {
      return normalizeSipUri(String(request.headers.from?.uri ?? ''))
    } catch {
      return undefined
    }
  }

  #invalid(request: SipRequest, status: number, reason: string): void {
    this.#ctx.log.warn(
      {
        code: 'PARLEY_ERR_WIRE_INVALID',
        method: request.method,
        callId: request.headers['call-id'],
        status,
        reason,
      },
      'unusable SIP request refused',
    )
    this.#stack.respond(request, status, reason)
  }

  async #onMessage(request: SipRequest): Promise<void> {
    const identity = this.#target(request)
    const sender = this.#sender(request)
    if (!identity) return this.#invalid(request, 404, 'Not Found')
    if (!sender) return this.#invalid(request, 400, 'Bad From')
    if (this.#refuseUnlicensed(request, identity)) return
    const type = String(request.headers['content-type'] ?? 'text/plain')
      .split(';')[0]
      ?.trim()
      .toLowerCase()
    if (type !== 'text/plain') {
      this.#stack.respond(request, 415, 'Unsupported Media Type', {
        headers: { accept: 'text/plain' },
      })
      return
    }
    const text = fromWire(request.content)
    if (Buffer.byteLength(text) > this.#config.maxBodyBytes)
      return this.#invalid(request, 413, 'Request Entity Too Large')
    try {
      await this.#ctx.emit({
        type: 'message',
        from: this.#address(sender),
        to: this.#address(identity),
        remoteId: `${request.headers['call-id']}|${request.headers.cseq?.seq}`,
        text,
        at: new Date().toISOString(),
      })
      this.#stack.respond(request, 200, 'OK')
    } catch (err) {
      // Not taken: say so, so the sender's side retries instead of thinking it delivered.
      const { code, retryable } = refusalOf(err)
      this.#ctx.log.warn(
        { code, from: sender, retryable, reason: (err as Error).message },
        'inbound MESSAGE refused back to its sender',
      )
      if (code === 'PARLEY_ERR_POLICY_DENIED') this.#stack.respond(request, 403, 'Forbidden')
      else if (retryable)
        // SIP has no 429: 503 with Retry-After is its overload answer (RFC 3261 §21.5.4).
        this.#stack.respond(request, 503, 'Service Unavailable', { headers: { 'retry-after': 5 } })
      else this.#stack.respond(request, 400, 'Bad Request')
    }
  }

  async #onSubscribe(request: SipRequest): Promise<void> {
    const callId = request.headers['call-id']
    const event = String(header(request, 'event') ?? '')
      .split(';')[0]
      ?.trim()
      .toLowerCase()
    if (event !== 'presence') {
      this.#stack.respond(request, 489, 'Bad Event', { headers: { 'allow-events': 'presence' } })
      return
    }
    const existing = this.#in.get(callId)
    const identity = existing?.identity ?? this.#target(request)
    const watcher = existing?.remoteUri ?? this.#sender(request)
    if (!identity) return this.#invalid(request, 404, 'Not Found')
    if (!watcher) return this.#invalid(request, 400, 'Bad From')
    if (this.#refuseUnlicensed(request, identity)) return
    const expires = expiresOf(request, this.#config.subscribeExpires)
    const approved = this.#approved.has(`${identity}|${watcher}`)
    const sub: InSubscription = existing ?? {
      kind: 'in',
      identity,
      ...dialogFromRequest(request, newTag(), identity, watcher, this.#transportOf(request)),
      expiresAt: 0,
      state: approved ? 'active' : 'pending',
    }
    sub.expiresAt = Date.now() + expires * 1000
    const contact = this.#stack.contact(sipUser(identity), this.#transportOf(request))
    if (expires === 0) {
      this.#in.delete(callId)
      this.#stack.respond(request, 200, 'OK', {
        toTag: sub.localTag,
        headers: { expires: 0, contact: [contact], ...recordRoute(request) },
      })
      await this.#notify(sub, 'terminated;reason=timeout')
      return
    }
    this.#in.set(callId, sub)
    // 202: accepted but pending until the host decides; 200 for an approved watcher.
    this.#stack.respond(
      request,
      sub.state === 'active' ? 200 : 202,
      sub.state === 'active' ? 'OK' : 'Accepted',
      {
        toTag: sub.localTag,
        headers: { expires, contact: [contact], ...recordRoute(request) },
      },
    )
    await this.#notify(
      sub,
      sub.state === 'active' ? this.#activeState(sub) : `pending;expires=${expires}`,
    )
    if (!existing && sub.state === 'pending') {
      try {
        await this.#ctx.emit({
          type: 'subscription',
          from: this.#address(watcher),
          to: this.#address(identity),
          remoteId: `sub-${callId}`,
          action: 'request',
          at: new Date().toISOString(),
        })
      } catch (err) {
        const { code } = refusalOf(err)
        if (code === 'PARLEY_ERR_POLICY_DENIED') {
          // Refused for good: end the subscription rather than leave it pending.
          this.#in.delete(callId)
          this.#ctx.log.info({ code, from: watcher }, 'subscription request refused by policy')
          await this.#notify(sub, 'terminated;reason=rejected')
          return
        }
        this.#ctx.log.warn(
          { code, from: watcher, err: (err as Error).message },
          'host did not take the subscription request; it stays pending',
        )
      }
    }
  }

  async #onNotify(request: SipRequest): Promise<void> {
    const sub = this.#out.get(request.headers['call-id'])
    if (!sub) {
      this.#stack.respond(request, 481, 'Subscription Does Not Exist')
      return
    }
    sub.remoteTag ??= request.headers.from.params?.tag ?? undefined
    const state = subscriptionState(header(request, 'subscription-state'))
    this.#stack.respond(request, 200, 'OK')
    const remote = this.#address(sub.remoteUri)
    const identity = this.#address(sub.identity)
    if (state.state === 'terminated') {
      clearTimeout(sub.refresh)
      this.#out.delete(sub.callId)
      const refused = state.reason === 'rejected' || state.reason === 'noresource'
      await this.#emitQuietly({
        type: 'subscription',
        from: remote,
        to: identity,
        remoteId: `notify-${sub.callId}-${request.headers.cseq?.seq}`,
        action: refused ? 'refused' : 'removed',
        at: new Date().toISOString(),
      })
      return
    }
    if (state.state === 'active' && !sub.active) {
      sub.active = true
      await this.#emitQuietly({
        type: 'subscription',
        from: remote,
        to: identity,
        remoteId: `notify-${sub.callId}-active`,
        action: 'approved',
        at: new Date().toISOString(),
      })
    }
    if (!request.content) return
    const reading = readPidf(
      fromWire(request.content),
      String(request.headers['content-type'] ?? ''),
    )
    if (reading.kind === 'invalid') {
      this.#ctx.log.warn(
        { code: 'PARLEY_ERR_WIRE_INVALID', from: sub.remoteUri, reason: reading.reason },
        'unusable presence document ignored',
      )
      return
    }
    if (reading.availability === 'unknown') {
      // An empty document (often: authorisation still pending) says nothing about them.
      this.#ctx.log.debug({ from: sub.remoteUri, raw: reading.raw }, 'presence without a value')
      return
    }
    await this.#emitQuietly({
      type: 'presence',
      from: remote,
      to: identity,
      remoteId: `notify-${sub.callId}-${request.headers.cseq?.seq}`,
      availability: reading.availability,
      raw: reading.raw,
      at: new Date().toISOString(),
      ...(reading.status && { status: reading.status }),
    })
  }

  #onInvite(request: SipRequest, remote: Remote): void {
    const identity = this.#target(request)
    if (!identity) {
      this.#invalid(request, 404, 'Not Found')
      return
    }
    if (this.#refuseUnlicensed(request, identity)) return
    const sdp = fromWire(request.content)
    const media = [...sdp.matchAll(/^m=(\w+)/gm)].map((m) => m[1]?.toLowerCase())
    if (media.length > 0 && media.every((m) => m === 'message')) {
      // An IM session: accept it; its MESSAGEs arrive in the dialog.
      this.#sessions.add(request.headers['call-id'])
      const contact = this.#stack.contact(sipUser(identity), this.#transportOf(request))
      const answer = messageSdp(this.#config.listen.address, this.#config.listen.port)
      this.#stack.respond(request, 200, 'OK', {
        toTag: newTag(),
        headers: { contact: [contact], ...recordRoute(request) },
        contentType: 'application/sdp',
        body: answer,
      })
      return
    }
    // Audio/video: Parley carries no media.
    this.#ctx.log.info(
      { from: request.headers.from?.uri, media, via: remote.address },
      'audio/video call refused: no media here',
    )
    const caller = this.#sender(request)
    if (this.#config.callEvents && caller) {
      void this.#emitQuietly({
        type: 'call',
        action: 'offer',
        from: this.#address(caller),
        to: this.#address(identity),
        remoteId: `call-${request.headers['call-id']}`,
        media: media.filter((m): m is string => typeof m === 'string').slice(0, 16),
        answered: this.#config.callRefusal,
        at: new Date().toISOString(),
      })
    }
    this.#stack.respond(request, this.#config.callRefusal, 'Not Acceptable Here', {
      toTag: newTag(),
      headers: { warning: '399 parley "no media: instant messaging and presence only"' },
    })
  }

  // ------------------------------------------------------------ requests out

  /** An initial (out-of-dialog) request to `to`, through the peer that serves its domain. */
  #initial(
    method: string,
    from: string,
    to: string,
    callId: string,
    extra: { contentType?: string; body?: string; headers?: Record<string, string | number> },
  ): Promise<SipResponse> {
    return this.#stack.request({
      method,
      uri: to,
      from: { uri: from, params: { tag: newTag() } },
      to: { uri: to, params: {} },
      callId,
      cseq: 1,
      route: this.#peerRoute(to),
      contact: this.#stack.contact(sipUser(from), this.#peerFor(to).transport),
      ...extra,
    })
  }

  /** SUBSCRIBE (new or refresh) in `sub`; schedules the next refresh on success. */
  async #subscribeIn(sub: OutSubscription, expires: number): Promise<SipResponse> {
    const response = await this.#inDialog(sub, 'SUBSCRIBE', {
      headers: { event: 'presence', accept: 'application/pidf+xml', expires },
    })
    if (response.status >= 200 && response.status < 300) {
      completeFromResponse(sub, response)
      const granted = expiresOf(response, expires)
      clearTimeout(sub.refresh)
      if (expires > 0 && granted > 0 && this.#out.has(sub.callId)) {
        sub.expires = granted
        sub.refresh = setTimeout(
          () => void this.#subscribeIn(sub, this.#config.subscribeExpires).catch(() => undefined),
          Math.max(1000, granted * 800),
        )
        sub.refresh.unref()
      }
    }
    return response
  }

  /**
   * PUBLISH (RFC 3903) `identity`'s presence to the presence server: a new
   * publication, or a modification/refresh of ours (SIP-If-Match); Expires 0
   * removes it. A 412 (the server forgot it) starts a new one.
   */
  async #publish(
    identity: string,
    expires = this.#config.presenceServer?.expires ?? 3600,
  ): Promise<void> {
    const server = this.#config.presenceServer
    if (!server) return
    const state = this.#publications.get(identity) ?? {}
    this.#publications.set(identity, state)
    clearTimeout(state.refresh)
    if (expires === 0 && !state.etag) return
    const own = this.#own.get(identity) ?? { availability: 'available' as Availability }
    const scheme = server.transport === 'tls' ? 'sips' : 'sip'
    const response = await this.#stack.request({
      method: 'PUBLISH',
      uri: identity,
      from: { uri: identity, params: { tag: newTag() } },
      to: { uri: identity, params: {} },
      callId: newCallId(this.#config.domain),
      cseq: 1,
      route: [
        {
          uri: `${scheme}:${server.host}:${server.port};transport=${server.transport};lr`,
          params: {},
        },
      ],
      headers: { event: 'presence', expires, ...(state.etag && { 'sip-if-match': state.etag }) },
      ...(expires > 0 && {
        contentType: 'application/pidf+xml',
        body: buildPidf({
          entity: identity,
          availability: own.availability,
          ...(own.status && { status: own.status }),
        }),
      }),
    })
    if (response.status === 412 && state.etag) {
      state.etag = undefined
      if (expires > 0) await this.#publish(identity, expires)
      return
    }
    if (response.status < 200 || response.status >= 300) {
      this.#ctx.log.warn(
        { identity, status: response.status, reason: response.reason },
        'presence server refused our PUBLISH',
      )
      return
    }
    if (expires === 0) {
      this.#publications.delete(identity)
      return
    }
    state.etag = header(response, 'sip-etag') ?? state.etag
    const granted = expiresOf(response, expires)
    if (this.#started && granted > 0) {
      state.refresh = setTimeout(
        () => void this.#publish(identity).catch(() => undefined),
        Math.max(1000, granted * 800),
      )
      state.refresh.unref()
    }
  }

  async #notify(sub: InSubscription, state: string): Promise<void> {
    const own = this.#own.get(sub.identity) ?? { availability: 'available' as Availability }
    const active = state.startsWith('active')
    const response = await this.#inDialog(sub, 'NOTIFY', {
      headers: { event: 'presence', 'subscription-state': state },
      ...(active && {
        contentType: 'application/pidf+xml',
        body: buildPidf({
          entity: sub.identity,
          availability: own.availability,
          ...(own.status && { status: own.status }),
        }),
      }),
    })
    if (response.status === 481 || response.status >= 600) this.#in.delete(sub.callId)
  }

  #activeState(sub: InSubscription): string {
    return `active;expires=${Math.max(0, Math.round((sub.expiresAt - Date.now()) / 1000))}`
  }

  #inDialog(
    dialog: Dialog,
    method: string,
    extra: { contentType?: string; body?: string; headers?: Record<string, string | number> },
  ): Promise<SipResponse> {
    const { from, to } = dialogParties(dialog)
    return this.#stack.request({
      method,
      uri: dialog.remoteTarget,
      from,
      to,
      callId: dialog.callId,
      cseq: dialog.cseq++,
      route: dialog.routeSet,
      contact: this.#stack.contact(sipUser(dialog.localUri), dialog.transport),
      ...extra,
    })
  }

  // ------------------------------------------------------------ helpers

  /** A wire URI as a Parley address (undecorated: `alice(contoso.com)@msn.com` is `alice@contoso.com`). */
  #address(uri: string): AddressString {
    const { decoration } = this.#config
    let canonical = uri
    if (decoration) {
      try {
        canonical = undecorateLive(uri, decoration.domain)
      } catch {}
    }
    return `${this.#config.network}:${canonical}`
  }

  /** A canonical URI as the wire writes it (decorated for Windows Live, when configured). */
  #decorate(uri: string): string {
    const { decoration } = this.#config
    if (!decoration) return uri
    const host = sipDomain(uri)
    if (
      host === this.#config.domain ||
      host === decoration.domain ||
      decoration.native.includes(host)
    )
      return uri
    return decorateLive(uri, decoration.domain)
  }

  #identityUri(address: string): string {
    const uri = this.#remoteUri(address)
    if (!this.#identities.has(uri))
      throw new PluginError(
        'PARLEY_ERR_NO_IDENTITY',
        `${address} is not an identity of this edge`,
        {
          retryable: false,
        },
      )
    if (!this.#licensed(uri))
      throw new PluginError(
        'PARLEY_ERR_PIC_LICENCE',
        `identity '${address}' has no PIC licence for ${this.#config.network}`,
        { retryable: false },
      )
    return uri
  }

  /** Whether `identity` may use this edge (always, unless the provider requires a licence). */
  #licensed(identity: string): boolean {
    return !this.#config.licensed || this.#licensedSet.has(identity)
  }

  /** Refuses a request to an unlicensed identity (403); true if it did. */
  #refuseUnlicensed(request: SipRequest, identity: string): boolean {
    if (this.#licensed(identity)) return false
    this.#ctx.log.warn(
      {
        code: 'PARLEY_ERR_PIC_LICENCE',
        identity,
        method: request.method,
        from: request.headers.from?.uri,
      },
      'request to an identity without a PIC licence refused',
    )
    this.#stack.respond(request, 403, 'Forbidden (no PIC licence)')
    return true
  }

  #remoteUri(address: string): string {
    const prefix = `${this.#config.network}:`
    const id = address.startsWith(prefix) ? address.slice(prefix.length) : address
    try {
      return this.#decorate(normalizeSipUri(id))
    } catch (err) {
      throw new PluginError('PARLEY_ERR_ADDRESS_INVALID', (err as Error).message, {
        retryable: false,
        cause: err,
      })
    }
  }

  /** Makes sure `uri`'s domain has a peer: configured, or found by SRV when discovery is on. */
  async #ensurePeer(uri: string): Promise<void> {
    const domain = sipDomain(uri)
    if (!this.#config.srvDiscovery || this.#configuredPeer(domain)) return
    const known = this.#discovered.get(domain)
    if (known && known.until > Date.now()) return
    const peer = await discoverPeer(domain, dnsPromises)
    this.#discovered.set(domain, { peer, until: Date.now() + DISCOVERY_TTL_MS })
  }

  #configuredPeer(domain: string): SipPeer | undefined {
    return this.#config.peers.find((p) => p.domains.some((d) => d.toLowerCase() === domain))
  }

  #peerFor(uri: string): SipPeer {
    const domain = sipDomain(uri)
    const peer = this.#configuredPeer(domain) ?? this.#discovered.get(domain)?.peer
    if (!peer)
      throw new PluginError('PARLEY_ERR_SEND_FAILED', `no federation route to '${domain}'`, {
        retryable: false,
      })
    return peer
  }

  #peerRoute(uri: string): NameAddr[] {
    const peer = this.#peerFor(uri)
    const scheme = peer.transport === 'tls' ? 'sips' : 'sip'
    return [
      { uri: `${scheme}:${peer.host}:${peer.port};transport=${peer.transport};lr`, params: {} },
    ]
  }

  #transportOf(request: SipRequest): SipPeer['transport'] {
    const protocol = String(request.headers.via?.[0]?.protocol ?? 'TCP').toLowerCase()
    return protocol === 'tls' ? 'tls' : protocol === 'udp' ? 'udp' : 'tcp'
  }

  /** Throws the PluginError a non-2xx final response means. */
  #check(response: SipResponse, what: string): void {
    if (response.status >= 200 && response.status < 300) return
    const retryable = RETRYABLE.has(response.status)
    throw new PluginError(
      retryable ? 'PARLEY_ERR_SEND_FAILED' : 'PARLEY_ERR_REMOTE_REFUSED',
      `${what}: ${response.status} ${response.reason}`,
      { retryable, condition: String(response.status) },
    )
  }

  async #emitQuietly(event: Parameters<PluginContext['emit']>[0]): Promise<void> {
    try {
      await this.#ctx.emit(event)
    } catch (err) {
      this.#ctx.log.warn(
        { type: event.type, from: event.from, err: (err as Error).message },
        'host did not take the event',
      )
    }
  }

  async #saveApprovals(): Promise<void> {
    await this.#ctx.state
      .set(APPROVED_KEY, JSON.stringify([...this.#approved]))
      .catch((err: unknown) =>
        this.#ctx.log.warn({ err: (err as Error).message }, 'could not store approvals'),
      )
  }
}

/** Why the host did not take an event: its code and whether trying again may help. */
function refusalOf(err: unknown): { code: string; retryable: boolean } {
  const e = err as { code?: unknown; retryable?: unknown } | undefined
  return {
    code: typeof e?.code === 'string' ? e.code : 'PARLEY_ERR_QUEUE_UNAVAILABLE',
    retryable: e?.retryable !== false,
  }
}

function stableCallId(messageId: string, domain: string): string {
  return `${createHash('sha256').update(messageId).digest('hex').slice(0, 32)}@${domain}`
}

/** An SDP offer/answer for an IM session: one `m=message` line (RFC 4975's form, as Lync used). */
function messageSdp(address: string, port: number): string {
  return [
    'v=0',
    `o=- 0 0 IN IP4 ${address}`,
    's=session',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=message ${port} sip null`,
    '',
  ].join('\r\n')
}

/** A dialog-creating request's Record-Route, copied into its 2xx (RFC 3261 §12.1.1). */
function recordRoute(request: SipRequest): { 'record-route'?: unknown } {
  const rr = request.headers['record-route']
  return Array.isArray(rr) && rr.length > 0 ? { 'record-route': rr } : {}
}

function sipUser(uri: string): string {
  const at = uri.indexOf('@')
  const colon = uri.indexOf(':')
  return uri.slice(colon + 1, at > 0 ? at : undefined)
}
