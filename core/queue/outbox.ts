import type { FastifyBaseLogger } from 'fastify'
import type { Store } from '../store/store.js'
import { outboundJobId } from './names.js'
import type { Queues } from './queues.js'

/** The error a bot reply is kept with while Redis refuses its job (outbound.ts). */
export const UNQUEUED = 'queue unavailable'
/** What it is noted with once the outbox has queued it. */
const REQUEUED = 'queued by the outbox after'

/** Records looked at per sweep. */
const BATCH = 500

/**
 * Bot replies recorded while Redis refused their jobs: the record is the
 * outbox (status `queued`, error `queue unavailable: …`) and this sweeps it,
 * so the turn that produced them need not run again (the bot would see its
 * message twice). A sweep runs at start, when a reply could not be queued
 * (then every `intervalMs` until none is left), and whenever Redis is back.
 * Every host process sweeps; job ids derived from the message ids make the
 * same reply one job however often it is added.
 */
export class Outbox {
  private timer: NodeJS.Timeout | undefined
  private sweeping: Promise<void> | undefined
  private pending = true
  private closed = false
  private readonly onReady = () => this.wake()

  constructor(
    private readonly deps: {
      store: Store
      queues: Queues
      log: FastifyBaseLogger
      intervalMs: number
    },
  ) {}

  start(): void {
    this.deps.queues.producer.on('ready', this.onReady)
    this.wake()
  }

  /** A reply could not be queued: sweep soon, and until it is. */
  wake(): void {
    this.pending = true
    if (!this.sweeping) this.schedule(0)
  }

  async close(): Promise<void> {
    this.closed = true
    this.deps.queues.producer.off('ready', this.onReady)
    clearTimeout(this.timer)
    await this.sweeping
  }

  /** Queues every reply waiting in the outbox; resolves when this sweep is done. */
  sweep(): Promise<void> {
    this.sweeping ??= this.run().finally(() => {
      this.sweeping = undefined
      // Woken meanwhile, or not done: again after a pause.
      if (this.pending) this.schedule(this.deps.intervalMs)
    })
    return this.sweeping
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.timer) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.sweep()
    }, delayMs)
    this.timer.unref()
  }

  private async run(): Promise<void> {
    if (this.closed || !this.pending) return
    this.pending = false
    const { store, queues, log } = this.deps
    let left = false
    try {
      const waiting = await store.messages.list({
        status: 'queued',
        direction: 'out',
        errorPrefix: UNQUEUED,
        limit: BATCH,
      })
      for (const record of waiting) {
        if (this.closed) return
        await queues.outboundFor(record.network).add(
          'message',
          {
            network: record.network,
            message: {
              id: record.id,
              from: record.from,
              to: record.to,
              text: record.text,
              ...(record.replyTo ? { replyTo: record.replyTo } : {}),
            },
          },
          { jobId: outboundJobId(record.id) },
        )
        await store.messages.markAttempt(record.id, {
          attempts: record.attempts,
          error: `${REQUEUED} ${record.error}`,
        })
      }
      if (waiting.length > 0) log.info({ replies: waiting.length }, 'outbox: replies queued')
      left = waiting.length === BATCH
    } catch (err) {
      // Redis (or the database) still refuses: try again later.
      left = true
      log.debug({ err }, 'outbox sweep failed; will retry')
    }
    if (left) this.pending = true
  }
}
