/**
 * Prometheus metrics of one host: `GET /metrics` (scope `metrics:read`),
 * every metric listed in docs/metrics.md.
 *
 * Each host has its own prom-client `Registry`, never the library's global
 * one: tests build many hosts in one process. Counters are fed by observers
 * (the workers' job outcomes, presence handed over, network status events);
 * queue depths, network states and leases are read when Prometheus scrapes.
 */
import type { Queue } from 'bullmq'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import { CONNECTION_STATES } from '../contract/index.js'
import type { NetworkRegistry } from '../loader/network-registry.js'
import type { JobOutcome } from '../queue/workers.js'
import { ErrorResponse } from './error-handler.js'

/** The BullMQ states whose job counts are reported (completed jobs are not kept long). */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'prioritized'] as const

/** A scrape answers within about this time even when Redis does not. */
const QUEUE_READ_TIMEOUT_MS = 2000

export interface HostMetricsDeps {
  networks: NetworkRegistry
  /** `cluster.instanceId`, when configured: exported as `parley_instance_info`. */
  instanceId?: string | undefined
  log: FastifyBaseLogger
}

/** What one scrape read of a queue: its counts and oldest waiting job, or why it could not. */
interface QueueReading {
  queue: string
  counts?: Record<string, number>
  /** When the oldest waiting job became due (ms since the epoch); absent when none waits. */
  oldestDueAt?: number
  failed?: boolean
}

export class HostMetrics {
  readonly registry = new Registry()
  private readonly deliveries: Counter<'queue' | 'network' | 'outcome'>
  private readonly presenceUpdates: Counter<'network'>
  private queues: readonly Queue[] = []
  /** The queue read in flight: the collectors of one scrape share it. */
  private reading: Promise<QueueReading[]> | undefined
  private defaultsStarted = false

  constructor(private readonly deps: HostMetricsDeps) {
    const registers = [this.registry]
    const { networks } = deps

    this.deliveries = new Counter({
      name: 'parley_deliveries_total',
      help: 'Job attempts by how they ended: outbound sent, inbound handled, retried or failed for good',
      labelNames: ['queue', 'network', 'outcome'] as const,
      registers,
    })
    this.presenceUpdates = new Counter({
      name: 'parley_presence_updates_total',
      help: 'Presence updates networks handed to the host and the policy let in (before coalescing)',
      labelNames: ['network'] as const,
      registers,
    })

    const stateChanges = new Counter({
      name: 'parley_network_state_changes_total',
      help: 'Network connection state changes, by the state entered',
      labelNames: ['network', 'state'] as const,
      registers,
    })
    networks.on('status', (name, status) =>
      stateChanges.inc({ network: name, state: status.state }),
    )

    new Gauge({
      name: 'parley_network_state',
      help: 'Network connection state: 1 for the current state, 0 for the others',
      labelNames: ['network', 'state'] as const,
      registers,
      collect() {
        this.reset()
        for (const network of networks.all()) {
          // Every state gets a series, 1 for the current one: a query need not know which exist.
          for (const state of CONNECTION_STATES) {
            this.set({ network: network.name, state }, network.status.state === state ? 1 : 0)
          }
        }
      },
    })

    // Leases (core/cluster/leases.ts): nothing is exported for a network without one.
    new Gauge({
      name: 'parley_network_lease',
      help: "The instance that owns a network's connection: 1 for the current owner",
      labelNames: ['network', 'owner'] as const,
      registers,
      collect() {
        this.reset()
        for (const { name, lease } of networks.all()) {
          if (lease?.owner) this.set({ network: name, owner: lease.owner }, 1)
        }
      },
    })
    new Gauge({
      name: 'parley_network_lease_mine',
      help: "1 when this process owns the network's connection, else 0",
      labelNames: ['network'] as const,
      registers,
      collect() {
        this.reset()
        for (const { name, lease } of networks.all()) {
          if (lease) this.set({ network: name }, lease.mine ? 1 : 0)
        }
      },
    })
    new Gauge({
      name: 'parley_network_lease_fence',
      help: "The lease's fencing number: grows with every new owner",
      labelNames: ['network'] as const,
      registers,
      collect() {
        this.reset()
        for (const { name, lease } of networks.all()) {
          if (lease) this.set({ network: name }, lease.fence)
        }
      },
    })

    if (deps.instanceId) {
      new Gauge({
        name: 'parley_instance_info',
        help: 'This process (cluster.instanceId); always 1',
        labelNames: ['instance'] as const,
        registers,
      }).set({ instance: deps.instanceId }, 1)
    }

    const read = () => this.readQueues()
    new Gauge({
      name: 'parley_queue_jobs',
      help: 'Jobs in a queue, by state, read from BullMQ at scrape time',
      labelNames: ['queue', 'state'] as const,
      registers,
      async collect() {
        const readings = await read()
        this.reset()
        for (const { queue, counts } of readings) {
          if (!counts) continue
          for (const state of QUEUE_STATES) this.set({ queue, state }, counts[state] ?? 0)
        }
      },
    })
    new Gauge({
      name: 'parley_queue_oldest_waiting_seconds',
      help: 'Age of the oldest waiting job in a queue (0 when none waits), read at scrape time',
      labelNames: ['queue'] as const,
      registers,
      async collect() {
        const readings = await read()
        this.reset()
        const now = Date.now()
        for (const { queue, counts, oldestDueAt } of readings) {
          if (!counts) continue
          const age = oldestDueAt === undefined ? 0 : Math.max(0, now - oldestDueAt) / 1000
          this.set({ queue }, age)
        }
      },
    })
    new Gauge({
      name: 'parley_scrape_error',
      help: 'Whether part of this scrape could not be read (1): the series it would give are missing',
      labelNames: ['collector'] as const,
      registers,
      async collect() {
        const readings = await read()
        this.set({ collector: 'queues' }, readings.some((r) => r.failed) ? 1 : 0)
      },
    })
  }

  /** The queues whose depth is reported (the inbound, each outbound and the presence queue). */
  reportQueues(queues: readonly Queue[]): void {
    this.queues = queues
  }

  /** Counts how an attempt of a job ended (the workers' `onOutcome`). */
  outcome(queue: string, network: string, outcome: JobOutcome): void {
    this.deliveries.inc({ queue, network, outcome })
  }

  /** Counts a presence update a network handed over (the presence service's `onAccepted`). */
  presenceAccepted(network: string): void {
    this.presenceUpdates.inc({ network })
  }

  /** The exposition text of every metric, read now. */
  async render(): Promise<string> {
    // Started at the first scrape, not with the host: the GC observer and the
    // event-loop monitor they add cannot be stopped, and a host that is never
    // scraped (tests build many per process) should not leave them behind.
    if (!this.defaultsStarted) {
      this.defaultsStarted = true
      collectDefaultMetrics({ register: this.registry })
    }
    return this.registry.metrics()
  }

  private readQueues(): Promise<QueueReading[]> {
    this.reading ??= Promise.all(this.queues.map((queue) => this.readQueue(queue))).finally(() => {
      this.reading = undefined
    })
    return this.reading
  }

  /** One queue's counts and oldest waiting job; a failure (Redis down, too slow) is reported, not thrown. */
  private async readQueue(queue: Queue): Promise<QueueReading> {
    let timer: NodeJS.Timeout | undefined
    try {
      const [counts, [oldest]] = await Promise.race([
        Promise.all([queue.getJobCounts(...QUEUE_STATES), queue.getWaiting(0, 0)]),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${QUEUE_READ_TIMEOUT_MS} ms`)),
            QUEUE_READ_TIMEOUT_MS,
          )
        }),
      ])
      // A job added with a delay waits from the moment it became due.
      const oldestDueAt = oldest ? oldest.timestamp + (oldest.opts.delay ?? 0) : undefined
      return { queue: queue.name, counts, ...(oldestDueAt !== undefined && { oldestDueAt }) }
    } catch (err) {
      this.deps.log.warn(
        { queue: queue.name, err: (err as Error).message },
        'metrics: could not read a queue',
      )
      return { queue: queue.name, failed: true }
    } finally {
      clearTimeout(timer)
    }
  }
}

export interface MetricsRouteOptions {
  metrics: HostMetrics
  /** The queues whose depth /metrics reports. */
  queues: readonly Queue[]
}

/** GET /metrics: the Prometheus text exposition format (version 0.0.4). */
export async function metricsRoutes(
  app: FastifyInstance,
  { metrics, queues }: MetricsRouteOptions,
): Promise<void> {
  metrics.reportQueues(queues)
  app.get(
    '/metrics',
    {
      config: { scope: 'metrics:read' },
      schema: {
        summary: 'Prometheus metrics: queues, deliveries, presence, networks, leases, process',
        description:
          'Text exposition format 0.0.4 (`text/plain; version=0.0.4`); every metric in docs/metrics.md. A part that cannot be read (Redis down) is left out and `parley_scrape_error` says so: the answer is still 200.',
        tags: ['host'],
        produces: ['text/plain'],
        response: {
          200: { type: 'string', description: 'Prometheus text exposition format' },
          '4xx': ErrorResponse,
        },
      },
    },
    async (_request, reply) => {
      const text = await metrics.render()
      return reply.type(metrics.registry.contentType).send(text)
    },
  )
}
