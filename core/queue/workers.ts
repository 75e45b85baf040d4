import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq'
import type { FastifyBaseLogger } from 'fastify'
import {
  type BotHandler,
  type Connection,
  type InboundCall,
  type InboundMessage,
  type InboundSubscription,
  type OutboundMessage,
  PluginError,
} from '../contract/index.js'
import type { NetworkRegistry } from '../loader/network-registry.js'
import type { Store } from '../store/store.js'
import { jitteredBackoff } from './backoff.js'
import { KeyedSerial } from './keyed-serial.js'
import { derivedId, INBOUND_QUEUE, outboundQueueName } from './names.js'
import type {
  CommandJob,
  InboundJob,
  OutboundJob,
  OutboundQueueJob,
  Queues,
  TurnReply,
} from './queues.js'

export interface WorkerSettings {
  inboundConcurrency: number
  outboundConcurrency: number
  backoffMs: number
  backoffMaxMs: number
  /**
   * A job whose worker stops renewing its lock (the process died or hung)
   * is taken back after about this long and run again elsewhere.
   */
  lockMs: number
}

/** A job taken back from a dead worker this many times is kept failed (it may crash workers). */
const MAX_STALLED = 5

/** A loaded bot, as the inbound worker sees it. */
export interface RunnableBot {
  name: string
  handler: BotHandler
}

/**
 * How the inbound worker reaches bots (core/bots implements it): which bot
 * answers an identity, and one turn for a message. `replies` settles once
 * what the bot sent is durably queued.
 */
export interface BotTurns {
  botFor(identity: string): RunnableBot | undefined
  runTurn(
    bot: RunnableBot,
    network: string,
    event: InboundMessage,
    recordId: string,
  ): Promise<{ replies: Promise<void>; sent: TurnReply[] }>
  /** Records and queues replies a bot sent in an earlier attempt (same ids: once each). */
  requeue(replies: TurnReply[]): Promise<void>
}

interface WorkerDeps {
  queues: Queues
  store: Store
  registry: NetworkRegistry
  turns: BotTurns
  log: FastifyBaseLogger
  settings: WorkerSettings
  /**
   * Whether this process owns `network`'s connection now (its lease, by the
   * local clock): only the owner consumes the network's outbound queue, and
   * it checks again right before every send (fencing). Default: always.
   */
  owns?(network: string): boolean
  /**
   * Handles a subscription event (contacts, the bot's contactRelationUpdate).
   * A rejection retries the job, so it must be safe to run twice.
   */
  subscriptions?(network: string, event: InboundSubscription, jobId: string): Promise<unknown>
  /** Tells the bot of a call offer (already answered by the plugin). */
  calls?(network: string, event: InboundCall, jobId: string): Promise<unknown>
  /**
   * Told how each attempt of a job ended (core/http/metrics.ts counts them):
   * `queue` is the BullMQ queue's name, `network` the job's network. A job
   * parked as delayed (its network was not online) is neither.
   */
  onOutcome?(queue: string, network: string, outcome: JobOutcome): void
}

/**
 * How an attempt ended: an outbound message `sent`, an inbound job
 * `handled`, or a failure, `retried` with backoff or `failed` for good.
 */
export type JobOutcome = 'sent' | 'handled' | 'retried' | 'failed'

/** Delay of an outbound job parked at shutdown because its network was not online. */
const NOT_ONLINE_DELAY_MS = 1000

/**
 * Inbound and outbound BullMQ workers. Jobs are processed concurrently,
 * but jobs of the same conversation run one after another (KeyedSerial),
 * so replies keep their order.
 */
export class Workers {
  private readonly workers: Worker[] = []
  private readonly outbound = new Map<string, Worker<OutboundQueueJob>>()
  private readonly serial = new KeyedSerial((prev) => this.finishedElsewhere(prev))
  private readonly closing = new AbortController()
  private inbound: Worker<InboundJob> | undefined
  private readonly onStatus: (name: string) => void

  constructor(private readonly deps: WorkerDeps) {
    this.onStatus = (name) => this.sync(name)
  }

  start(networks: string[]): void {
    const { settings } = this.deps
    const backoffStrategy = (attemptsMade: number) =>
      jitteredBackoff(attemptsMade, settings.backoffMs, settings.backoffMaxMs)
    const locks = {
      lockDuration: settings.lockMs,
      stalledInterval: Math.max(1000, Math.floor(settings.lockMs / 2)),
      maxStalledCount: MAX_STALLED,
    }
    const inbound = new Worker<InboundJob>(INBOUND_QUEUE, (job) => this.processInbound(job), {
      connection: this.deps.queues.workerConnection(),
      prefix: this.deps.queues.settings.prefix,
      concurrency: settings.inboundConcurrency,
      settings: { backoffStrategy },
      ...locks,
    })
    this.watch(inbound, 'inbound')
    this.inbound = inbound
    for (const network of networks) {
      const worker = new Worker<OutboundQueueJob>(
        outboundQueueName(network),
        (job, token) =>
          'command' in job.data
            ? this.processCommand(job.data)
            : this.processOutbound(job as Job<OutboundJob>, token),
        {
          connection: this.deps.queues.workerConnection(),
          prefix: this.deps.queues.settings.prefix,
          concurrency: settings.outboundConcurrency,
          settings: { backoffStrategy },
          ...locks,
          // Started by sync() once this process owns the network and it is online.
          autorun: false,
        },
      )
      this.watch(worker, network)
      this.outbound.set(network, worker)
      this.sync(network)
    }
    this.deps.registry.on('status', this.onStatus)
  }

  /** Stops taking jobs and waits for the ones in flight (graceful shutdown). */
  /**
   * Graceful shutdown: finish the bot turns in flight, then give the
   * replies they queued (and anything else waiting) up to `drainMs` to go
   * out on networks that are online, then stop. What is left stays queued
   * for the next start: nothing is dropped.
   */
  async close(drainMs = 5000): Promise<void> {
    this.deps.registry.off('status', this.onStatus)
    await this.inbound?.close()
    const deadline = Date.now() + drainMs
    for (const [network, worker] of this.outbound) {
      if (!this.sendsFor(network) || worker.isPaused()) continue
      const queue = this.deps.queues.outboundFor(network)
      while (Date.now() < deadline) {
        const counts = await queue
          .getJobCounts('waiting', 'active', 'prioritized')
          .catch(() => undefined)
        if (!counts || Object.values(counts).every((n) => n === 0)) break
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    this.closing.abort()
    this.serial.close()
    await Promise.allSettled(this.workers.map((w) => w.close()))
  }

  private watch(worker: Worker, label: string): void {
    this.workers.push(worker)
    // An 'error' event without a listener would throw and take the process down.
    worker.on('error', (err) => this.deps.log.error({ queue: label, err }, 'queue worker error'))
    const networkOf = (job: Job) => (job.data as { network?: string }).network ?? label
    const done: JobOutcome = worker.name === INBOUND_QUEUE ? 'handled' : 'sent'
    worker.on('completed', (job) => this.deps.onOutcome?.(worker.name, networkOf(job), done))
    worker.on('failed', (job, err) => {
      if (!job || err instanceof DelayedError || err.name === 'DelayedError') return
      const final =
        job.attemptsMade >= (job.opts.attempts ?? 1) || err instanceof UnrecoverableError
      this.deps.log.warn(
        { queue: label, jobId: job.id, attempt: job.attemptsMade, final, err: err.message },
        final ? 'job failed' : 'job will be retried',
      )
      this.deps.onOutcome?.(worker.name, networkOf(job), final ? 'failed' : 'retried')
    })
  }

  /**
   * Consume a network's outbound queue only while this process owns its
   * connection and it is online; called on every status and lease change.
   */
  sync(network: string): void {
    const worker = this.outbound.get(network)
    if (!worker || this.closing.signal.aborted) return
    // An outbound loop first starts when this process owns the network and it
    // is online; a paused one (its loop may have ended) is resumed, not run.
    if (this.sendsFor(network)) {
      if (worker.isPaused()) void worker.resume()
      else if (!worker.isRunning())
        worker
          .run()
          .catch((err: unknown) =>
            this.deps.log.error({ queue: network, err }, 'outbound worker stopped'),
          )
    } else if (worker.isRunning() && !worker.isPaused()) {
      void worker.pause(true)
    }
  }

  /**
   * Whether an inbound job is no longer waiting or running (completed and
   * removed, failed, or delayed for a retry): with several processes, the
   * predecessor of a conversation's event may be handled by another one.
   */
  private async finishedElsewhere(prev: string): Promise<boolean> {
    const state = await this.deps.queues.inbound.getJobState(prev)
    return state !== 'active' && state !== 'waiting' && state !== 'prioritized'
  }

  private owns(network: string): boolean {
    return this.deps.owns?.(network) ?? true
  }

  private sendsFor(network: string): boolean {
    return this.owns(network) && this.deps.registry.isOnline(network)
  }

  private async processInbound(job: Job<InboundJob>): Promise<unknown> {
    const { network, event } = job.data
    if (event.type === 'subscription' && this.deps.subscriptions) {
      return this.deps.subscriptions(network, event, job.id ?? event.remoteId)
    }
    if (event.type === 'call' && this.deps.calls) {
      return this.deps.calls(network, event, job.id ?? event.remoteId)
    }
    if (event.type !== 'message') {
      // Typing and receipts reach bots in later work; they are accepted and logged.
      this.deps.log.debug({ network, type: event.type, from: event.from }, 'inbound event')
      return { handled: false }
    }
    return this.handleMessage(job, network, event)
  }

  private async handleMessage(job: Job<InboundJob>, network: string, event: InboundMessage) {
    const { store, turns, log } = this.deps
    const key = job.id ?? derivedId(network, event.from, event.remoteId)
    const { record, created } = await store.messages.recordInbound({
      id: derivedId(key),
      network,
      dedupKey: key,
      from: event.from,
      to: event.to,
      text: event.text,
      remoteId: event.remoteId,
    })
    if (!created && record.status === 'handled') return { duplicate: true, id: record.id }
    const bot = turns.botFor(event.to)
    if (!bot) {
      log.warn(
        { network, to: event.to, code: 'PARLEY_ERR_NO_BOT' },
        'no bot answers this identity; message kept',
      )
      await store.messages.markHandled(record.id)
      return { id: record.id, bot: null }
    }
    // The bot answered in an earlier attempt, which failed afterwards: what
    // it sent is recorded and queued again, and the bot is not asked twice.
    let sent = job.data.turn?.replies
    const journaled = sent !== undefined
    try {
      if (sent) {
        await turns.requeue(sent)
      } else {
        // Turns of one conversation run one at a time, in order; the replies
        // they queued are awaited outside that lane, so the next turn need not
        // wait for Redis and the database. The job completes only once its
        // replies are durably queued.
        const turn = await this.serial.run(`${event.to}|${event.from}`, job.data.order, () =>
          turns.runTurn(bot, network, event, record.id),
        )
        sent = turn.sent
        await turn.replies
      }
      await store.messages.markHandled(record.id)
    } catch (error) {
      // The turn ran but what follows failed (the database or Redis is down):
      // keep what the bot sent with the job, for the next attempt.
      if (sent && !journaled) {
        await job.updateData({ ...job.data, turn: { replies: sent } }).catch((err: unknown) => {
          log.warn(
            { err, id: record.id },
            'could not keep the turn with its job; it will run again',
          )
        })
      }
      await store.messages
        .markFailed(record.id, {
          error: (error as Error).message,
          attempts: job.attemptsMade + 1,
        })
        .catch((err: unknown) =>
          log.warn({ err, id: record.id }, 'could not mark a message failed'),
        )
      throw error
    }
    return { id: record.id, bot: bot.name, ...(journaled && { replayed: true }) }
  }

  /**
   * Sends, and if the connection drops under the send, waits for it to come
   * back and sends again in the same attempt (at most 3 times), so the
   * message keeps its place before the ones queued behind it.
   */
  private async sendWhenOnline(
    network: string,
    connection: Connection,
    message: OutboundMessage,
  ): Promise<string> {
    for (let round = 1; ; round++) {
      try {
        // Fencing: a process that lost its lease (paused, cut off) sends nothing.
        if (!this.owns(network))
          throw new PluginError(
            'PARLEY_ERR_NOT_CONNECTED',
            `${network}: this process no longer owns the connection`,
            { retryable: true },
          )
        return (await connection.send(message)).remoteId
      } catch (error) {
        const dropped =
          PluginError.is(error) && error.retryable && !this.deps.registry.isOnline(network)
        if (
          !dropped ||
          round >= 3 ||
          !(await this.deps.registry.waitOnline(network, this.closing.signal))
        )
          throw error
      }
    }
  }

  /**
   * A subscription operation forwarded by a process that does not own the
   * connection (it waits for this job's outcome). Run once: its caller
   * reports the failure, with the code carried in the failure's message.
   */
  private async processCommand({ network, command }: CommandJob): Promise<unknown> {
    const connection = this.deps.registry.get(network)?.connection
    const fail = (code: string, message: string) => new UnrecoverableError(`${code}: ${message}`)
    if (!connection || !this.owns(network) || !this.deps.registry.isCarrying(network))
      throw fail('PARLEY_ERR_NOT_CONNECTED', `${network} is not connected`)
    const method = connection[command.op]
    if (!method) throw fail('PARLEY_ERR_CAPABILITY', `${network} has no ${command.op}`)
    try {
      await method.call(connection, command.request)
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'PARLEY_ERR_PLUGIN_THREW'
      throw fail(code, (error as Error)?.message ?? String(error))
    }
    return { done: command.op }
  }

  private async processOutbound(job: Job<OutboundJob>, token?: string): Promise<unknown> {
    const { network, message } = job.data
    const { registry, store, log } = this.deps
    const connection = registry.get(network)?.connection
    // A job fetched just as the network went down waits for it (keeping its
    // place in the recipient's order); only a shutdown parks it as delayed,
    // which does not use up an attempt.
    if (
      !connection ||
      !(await registry.waitOnline(network, this.closing.signal)) ||
      !this.owns(network)
    ) {
      await job.moveToDelayed(Date.now() + NOT_ONLINE_DELAY_MS, token)
      throw new DelayedError()
    }
    // A job run again (a retry, or taken back from a worker that died) may
    // have been sent already: its record says so, and it is not sent twice.
    if (job.attemptsMade > 0 || job.stalledCounter > 0) {
      const record = await store.messages.get(message.id)
      if (record?.status === 'sent' || record?.status === 'delivered')
        return { remoteId: record.remoteId, duplicate: true }
    }
    // The lane only hands messages to the plugin in order (send() must put
    // them on the wire in call order); waiting for the network's
    // acknowledgement happens outside it, so sends to one recipient pipeline.
    const { sending } = await this.serial.run(`out|${message.to}`, job.data.order, async () => ({
      sending: this.sendWhenOnline(network, connection, message),
    }))
    const attempts = job.attemptsMade + 1
    let remoteId: string
    try {
      remoteId = await sending
    } catch (error) {
      const retryable = PluginError.is(error) ? error.retryable : true
      const code = (error as { code?: string }).code ?? 'PARLEY_ERR_PLUGIN_THREW'
      const reason = `${code}: ${(error as Error)?.message ?? String(error)}`
      registry.noteError(network, code, reason)
      const last = !retryable || attempts >= (job.opts.attempts ?? 1)
      if (last) await store.messages.markFailed(message.id, { error: reason, attempts })
      else await store.messages.markAttempt(message.id, { error: reason, attempts })
      if (!retryable) throw new UnrecoverableError(reason)
      throw error
    }
    // The network has the message now: a failure to record it must not resend it.
    await store.messages.markSent(message.id, { remoteId, attempts }).catch((err: unknown) => {
      log.error(
        { err, id: message.id, network },
        'message sent but its record could not be updated',
      )
    })
    return { remoteId }
  }
}
