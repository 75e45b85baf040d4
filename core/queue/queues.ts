import { type JobsOptions, Queue } from 'bullmq'
import { Redis, type RedisOptions } from 'ioredis'
import type { InboundEvent, OutboundMessage, SubscriptionRequest } from '../contract/index.js'
import { BACKOFF_TYPE } from './backoff.js'
import type { Order } from './keyed-serial.js'
import { INBOUND_QUEUE, outboundQueueName } from './names.js'

/** A reply a bot sent in a turn, as it is handed to the outbound sink. */
export interface TurnReply {
  /** Stable id: the same turn replayed yields the same ids, so a retry never duplicates. */
  id: string
  from: string
  to: string
  text: string
  replyTo?: string
  bot: string
}

export interface InboundJob {
  network: string
  event: InboundEvent
  /** Host time the event was accepted, ISO 8601. */
  acceptedAt: string
  /** Place in its conversation (see KeyedSerial). */
  order?: Order
  /**
   * Written only when an attempt failed after the bot's turn ran (the
   * database or Redis refused what followed): what the bot sent, so the
   * next attempt records and queues that without asking the bot again.
   */
  turn?: { replies: TurnReply[] }
}

export interface OutboundJob {
  network: string
  message: OutboundMessage
  /** Place among the messages to its recipient (see KeyedSerial). */
  order?: Order
}

/**
 * A subscription operation asked of the network's connection by a process
 * that does not own it (core/cluster/owner-calls.ts): it travels on the
 * network's outbound queue, which only the owner consumes.
 */
export interface CommandJob {
  network: string
  command: {
    op: 'subscribe' | 'unsubscribe' | 'approve' | 'refuse'
    request: SubscriptionRequest
  }
}

/** What a network's outbound queue carries. */
export type OutboundQueueJob = OutboundJob | CommandJob

export interface QueueSettings {
  redisUrl: string
  prefix: string
  attempts: number
  keepCompletedSeconds: number
}

/**
 * The host's BullMQ queues. Producers share one Redis connection with the
 * offline queue disabled, so adding a job while Redis is down fails at once
 * (and the caller can refuse the message) instead of hanging.
 */
export class Queues {
  readonly inbound: Queue<InboundJob>
  private readonly outbound = new Map<string, Queue<OutboundQueueJob>>()
  private readonly workerConnections: Redis[] = []
  readonly producer: Redis
  readonly jobOptions: JobsOptions

  constructor(readonly settings: QueueSettings) {
    this.producer = new Redis(settings.redisUrl, producerOptions())
    this.jobOptions = {
      attempts: settings.attempts,
      backoff: { type: BACKOFF_TYPE },
      removeOnComplete:
        settings.keepCompletedSeconds === 0 ? true : { age: settings.keepCompletedSeconds },
      // Failed jobs are kept: they stay visible and can be retried.
      removeOnFail: false,
    }
    this.inbound = this.makeQueue<InboundJob>(INBOUND_QUEUE)
  }

  outboundFor(network: string): Queue<OutboundQueueJob> {
    let queue = this.outbound.get(network)
    if (!queue) {
      queue = this.makeQueue<OutboundQueueJob>(outboundQueueName(network))
      this.outbound.set(network, queue)
    }
    return queue
  }

  /** Connection options for workers: BullMQ needs `maxRetriesPerRequest: null` on blocking clients. */
  workerConnection(): Redis {
    const connection = new Redis(this.settings.redisUrl, { maxRetriesPerRequest: null })
    // Workers do not close a connection they were given; Queues does, in close().
    this.workerConnections.push(connection)
    return connection
  }

  async ready(): Promise<void> {
    await Promise.all([
      this.inbound.waitUntilReady(),
      ...[...this.outbound.values()].map((q) => q.waitUntilReady()),
    ])
  }

  async close(): Promise<void> {
    await Promise.allSettled([
      this.inbound.close(),
      ...[...this.outbound.values()].map((q) => q.close()),
    ])
    this.producer.disconnect()
    for (const connection of this.workerConnections) connection.disconnect()
  }

  private makeQueue<T>(name: string): Queue<T> {
    // A Queue given an ioredis instance shares it instead of opening its own.
    return new Queue<T>(name, {
      connection: this.producer,
      prefix: this.settings.prefix,
      defaultJobOptions: this.jobOptions,
    }) as Queue<T>
  }
}

function producerOptions(): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Keep reconnecting in the background; commands fail fast meanwhile.
    retryStrategy: (times) => Math.min(times * 200, 2000),
  }
}
