import { randomUUID } from 'node:crypto'
import { type Job, Queue, Worker } from 'bullmq'
import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'
import { type InboundPresence, PluginError, type Presence } from '../contract/index.js'
import type { NetworkRegistry } from '../loader/network-registry.js'
import type { LastKnown } from '../store/presence-store.js'
import type { Store } from '../store/store.js'
import { type Accepted, type LiveEntry, LivePresenceStore, type LiveUpdate } from './live-store.js'
import { presenceView } from './view.js'

/** BullMQ queue of coalesced presence batches. */
export const PRESENCE_QUEUE = 'presence'

/** Rendered REST answers kept (one per address queried); cleared when full. */
const MAX_RENDERED = 100_000

export interface PresenceJob {
  updates: Array<LiveUpdate & { network: string }>
}

export interface PresenceSettings {
  batchMs: number
  batchMax: number
  dbFlushMs: number
  streamMaxLen: number
}

export interface PresenceServiceDeps {
  redisUrl: string
  prefix: string
  /** The host's producer connection. */
  redis: Redis
  /** A new blocking connection for the worker. */
  workerConnection(): Redis
  store: Store
  registry: NetworkRegistry
  log: FastifyBaseLogger
  settings: PresenceSettings
  /** Called for every accepted change whose availability, status or raw value changed. */
  onChange?(change: Accepted & { network: string }): void
  /** Told of every presence update a network hands over (metrics count them per network). */
  onAccepted?(network: string): void
}

interface Waiter {
  resolve(): void
  reject(error: unknown): void
}

/**
 * Presence, end to end inside the host:
 * - ingest: presence events from plugins are coalesced per address ("latest
 *   wins") for `batchMs`, then queued on BullMQ `presence` as one job;
 * - worker: applies each batch to Redis (LivePresenceStore), writes the last
 *   known value to the database in batches (`dbFlushMs`), and reports changes
 *   (bots are told through `onChange`);
 * - queries: answered from the process cache, Redis, then the database.
 */
export class PresenceService {
  readonly live: LivePresenceStore
  /** The coalesced batches on their way to the worker (shown by /metrics and the queue board). */
  readonly queue: Queue<PresenceJob>
  private worker: Worker<PresenceJob> | undefined
  private pending = new Map<string, LiveUpdate & { network: string }>()
  private waiters: Waiter[] = []
  private batchTimer: NodeJS.Timeout | undefined
  private flushing: Promise<void> = Promise.resolve()
  private dbPending = new Map<string, LastKnown>()
  private dbTimer: NodeJS.Timeout | undefined
  private dbWriting: Promise<void> = Promise.resolve()
  private batchStartedAt = 0
  private readonly rendered = new Map<
    string,
    { entry: LiveEntry; state: string | undefined; lostAt: string | undefined; json: string }
  >()

  constructor(private readonly deps: PresenceServiceDeps) {
    this.live = new LivePresenceStore({
      redisUrl: deps.redisUrl,
      prefix: deps.prefix,
      redis: deps.redis,
      streamMaxLen: deps.settings.streamMaxLen,
      log: deps.log,
    })
    this.queue = new Queue<PresenceJob>(PRESENCE_QUEUE, {
      connection: deps.redis,
      prefix: deps.prefix,
      defaultJobOptions: {
        attempts: 5,
        backoff: { type: 'exponential', delay: 200 },
        removeOnComplete: true,
        removeOnFail: { count: 1000 },
      },
    })
  }

  async start(): Promise<void> {
    await this.live.start()
    this.worker = new Worker<PresenceJob>(PRESENCE_QUEUE, (job) => this.process(job), {
      connection: this.deps.workerConnection(),
      prefix: this.deps.prefix,
      concurrency: 1,
    })
    this.worker.on('error', (err) =>
      this.deps.log.error({ queue: PRESENCE_QUEUE, err }, 'queue worker error'),
    )
    this.dbTimer = setInterval(() => void this.flushDb(), this.deps.settings.dbFlushMs)
    this.dbTimer.unref()
  }

  /**
   * The host end of `ctx.emit` for presence: resolves once the batch holding
   * it is queued; rejects (retryable) if Redis cannot take it.
   */
  accept(network: string, event: InboundPresence): Promise<void> {
    this.deps.onAccepted?.(network)
    this.pending.set(event.from, {
      network,
      address: event.from,
      availability: event.availability,
      observedAt: new Date().toISOString(),
      source: event.to,
      ...(event.status !== undefined && { status: event.status }),
      ...(event.raw !== undefined && { raw: event.raw }),
    })
    const queued = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }))
    const now = Date.now()
    if (this.waiters.length === 1) this.batchStartedAt = now
    // The timer can fire late while a plugin works through a large read: check the age here too.
    if (
      this.pending.size >= this.deps.settings.batchMax ||
      now - this.batchStartedAt >= this.deps.settings.batchMs
    )
      void this.flushBatch()
    else this.batchTimer ??= setTimeout(() => void this.flushBatch(), this.deps.settings.batchMs)
    return queued
  }

  /** Records that `identity` no longer watches `address` (its presence becomes `not-watched`). */
  async forget(identity: string, address: string): Promise<void> {
    await this.live.apply([
      { address, availability: 'unknown', observedAt: new Date().toISOString(), source: identity },
    ])
    this.dbPending.delete(address)
  }

  /** Presence of each address, in order. */
  async query(addresses: string[]): Promise<Presence[]> {
    const live = await this.live.getMany(addresses)
    const missing = addresses.filter((_, i) => live[i] === undefined)
    const stored = missing.length > 0 ? await this.deps.store.presence.getMany(missing) : undefined
    return addresses.map((address, i) =>
      this.view(address, live[i], stored?.get(address) ?? this.dbPending.get(address)),
    )
  }

  /** One address; served from the process cache when it can be (no I/O). */
  async get(address: string): Promise<Presence> {
    const cached = this.live.cached(address)
    if (cached) return this.view(address, cached)
    return (await this.query([address]))[0] as Presence
  }

  /**
   * `get()` as JSON, for the REST hot path: the rendering of a cached entry is
   * kept until the entry or its network's state changes, so a repeated query
   * costs a map lookup.
   */
  async getJson(address: string): Promise<string> {
    const cached = this.live.cached(address)
    if (!cached) return JSON.stringify(await this.get(address))
    const network = this.deps.registry.get(address.slice(0, address.indexOf(':')))
    const state = network?.status.state
    const lostAt = network?.lostAt
    const hit = this.rendered.get(address)
    if (hit && hit.entry === cached && hit.state === state && hit.lostAt === lostAt) return hit.json
    const json = JSON.stringify(presenceView(address, network, cached))
    if (this.rendered.size >= MAX_RENDERED) this.rendered.clear()
    this.rendered.set(address, { entry: cached, state, lostAt, json })
    return json
  }

  view(address: string, live: LiveEntry | undefined, stored?: LastKnown): Presence {
    const network = this.deps.registry.get(address.slice(0, address.indexOf(':')))
    return presenceView(address, network, live, stored)
  }

  /** Queues what is pending, stops the worker, and writes the last known values. */
  async close(): Promise<void> {
    await this.flushBatch()
    await this.worker?.close()
    clearInterval(this.dbTimer)
    await this.flushDb()
    await this.live.close()
    await this.queue.close()
  }

  private flushBatch(): Promise<void> {
    clearTimeout(this.batchTimer)
    this.batchTimer = undefined
    if (this.pending.size === 0) return this.flushing
    const updates = [...this.pending.values()]
    const waiters = this.waiters
    this.pending = new Map()
    this.waiters = []
    // Batches are added one after another, so they reach the worker in order.
    this.flushing = this.flushing.then(async () => {
      try {
        await this.queue.add('batch', { updates }, { jobId: `presence-${randomUUID()}` })
        for (const w of waiters) w.resolve()
      } catch (error) {
        this.deps.log.error(
          { code: 'PARLEY_ERR_QUEUE_UNAVAILABLE', err: error, updates: updates.length },
          'could not queue presence',
        )
        const failure = new PluginError(
          'PARLEY_ERR_QUEUE_UNAVAILABLE',
          `presence queue unavailable: ${(error as Error).message}`,
          { retryable: true, cause: error },
        )
        for (const w of waiters) w.reject(failure)
      }
    })
    return this.flushing
  }

  private async process(job: Job<PresenceJob>): Promise<{ accepted: number }> {
    const networkOf = new Map(job.data.updates.map((u) => [u.address, u.network]))
    const accepted = await this.live.apply(job.data.updates.map(({ network: _, ...u }) => u))
    for (const change of accepted) {
      const { entry, previous } = change
      if (entry.availability !== 'unknown') {
        this.dbPending.set(entry.address, {
          address: entry.address,
          availability: entry.availability,
          observedAt: entry.observedAt,
          source: entry.source,
          ...(entry.status !== undefined && { status: entry.status }),
          ...(entry.raw !== undefined && { raw: entry.raw }),
        })
      }
      const changed =
        !previous ||
        previous.availability !== entry.availability ||
        previous.status !== entry.status ||
        previous.raw !== entry.raw
      if (changed && this.deps.onChange) {
        try {
          this.deps.onChange({ ...change, network: networkOf.get(entry.address) ?? '' })
        } catch (err) {
          this.deps.log.error({ err }, 'presence change listener threw')
        }
      }
    }
    return { accepted: accepted.length }
  }

  /** Writes the last known values gathered since the previous flush; keeps them on failure. */
  private flushDb(): Promise<void> {
    this.dbWriting = this.dbWriting.then(async () => {
      if (this.dbPending.size === 0) return
      const rows = this.dbPending
      this.dbPending = new Map()
      try {
        await this.deps.store.presence.saveMany([...rows.values()])
      } catch (err) {
        this.deps.log.warn(
          { err, rows: rows.size },
          'could not write last known presence; will retry',
        )
        for (const [address, row] of rows)
          if (!this.dbPending.has(address)) this.dbPending.set(address, row)
      }
    })
    return this.dbWriting
  }
}
