import { QueueEvents } from 'bullmq'
import {
  type ErrorCode,
  errorCodes,
  parleyError,
  type SubscriptionRequest,
} from '../contract/index.js'
import { outboundQueueName } from '../queue/names.js'
import type { CommandJob, Queues } from '../queue/queues.js'

const CODED = /^(PARLEY_ERR_[A-Z_]+): ([\s\S]*)$/
const KNOWN = new Set<string>(errorCodes)

/**
 * Subscription operations (watch, unwatch, approve, refuse) asked on a
 * process that does not own the network's connection: they travel as a
 * job on the network's outbound queue, which only the owner consumes, and
 * the caller waits for its outcome, so a REST client or bot gets the same
 * answer from every process.
 */
export class OwnerCalls {
  private readonly events = new Map<string, Promise<QueueEvents>>()

  constructor(
    private readonly deps: {
      queues: Queues
      /** How long to wait for the owner before answering 503. */
      timeoutMs: number
    },
  ) {}

  async call(network: string, op: CommandJob['command']['op'], request: SubscriptionRequest) {
    const events = await this.eventsFor(network)
    const job = await this.deps.queues
      .outboundFor(network)
      .add('command', { network, command: { op, request } } satisfies CommandJob, {
        attempts: 1,
        removeOnComplete: true,
        removeOnFail: { age: 3600 },
      })
    try {
      await job.waitUntilFinished(events, this.deps.timeoutMs)
    } catch (error) {
      const message = (error as Error)?.message ?? String(error)
      const coded = CODED.exec(message)
      if (coded && KNOWN.has(coded[1] as string)) {
        const err = parleyError(coded[1] as ErrorCode, network, op)
        err.message = coded[2] as string
        throw err
      }
      // Not finished in time: the owner is gone, busy or not online. The job
      // may still run later; every operation is safe to run twice.
      throw parleyError('PARLEY_ERR_NOT_CONNECTED', network)
    }
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled(this.events.values())
    await Promise.allSettled(
      all.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)),
    )
  }

  private eventsFor(network: string): Promise<QueueEvents> {
    let events = this.events.get(network)
    if (!events) {
      const created = new QueueEvents(outboundQueueName(network), {
        connection: this.deps.queues.workerConnection(),
        prefix: this.deps.queues.settings.prefix,
      })
      created.on('error', () => undefined)
      events = created.waitUntilReady().then(() => created)
      this.events.set(network, events)
    }
    return events
  }
}
