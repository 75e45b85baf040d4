import { randomUUID } from 'node:crypto'

/**
 * Where an event stands in its conversation: `n` counts up per key within
 * one accepting process (`epoch`). Gaps tell a worker that an earlier event
 * of the conversation has not reached it yet.
 */
export interface Order {
  epoch: string
  n: number
  /**
   * The job id of the event just before it in its conversation, when the
   * accepting process knows it: with several processes, a worker missing
   * that event asks the queue whether another process already finished it.
   */
  prev?: string
}

/** Hands out per-key sequence numbers where events are accepted (one process per connection). */
export class Sequencer {
  private readonly epoch = randomUUID().slice(0, 8)
  private readonly counters = new Map<string, number>()

  private readonly last = new Map<string, string>()

  /** The next place for `key`; `id` (the event's job id) becomes the next one's `prev`. */
  next(key: string, id?: string): Order {
    // Bounded memory: forgetting a key only starts a new epoch-less run for it.
    if (this.counters.size > 100_000) {
      this.counters.clear()
      this.last.clear()
    }
    const n = (this.counters.get(key) ?? 0) + 1
    this.counters.set(key, n)
    const prev = this.last.get(key)
    if (id !== undefined) this.last.set(key, id)
    return prev === undefined ? { epoch: this.epoch, n } : { epoch: this.epoch, n, prev }
  }
}

/** How long a task waits for a missing predecessor before it runs anyway. */
const HOLD_MS = 250
/** How often a waiting task asks whether its predecessor finished in another process. */
const PROBE_MS = 5

/** Whether the job `prev` is finished (or gone), wherever it ran. */
export type FinishedElsewhere = (prev: string) => Promise<boolean>
/** Idle lanes are forgotten after this long. */
const IDLE_MS = 30_000

/**
 * Runs tasks that share a key one at a time, in their conversation order,
 * while tasks with different keys run concurrently. BullMQ may hand two jobs
 * of one conversation to the processor in swapped order (a worker fetches
 * from two places), so a task whose predecessor has not arrived yet waits
 * for it up to HOLD_MS; after that (the predecessor is on another host or
 * waiting for a retry) it runs anyway.
 */
export class KeyedSerial {
  private readonly lanes = new Map<string, Lane>()
  private readonly sweeper: NodeJS.Timeout

  /** `finished`: asked while a task waits for a predecessor that may run in another process. */
  constructor(private readonly finished?: FinishedElsewhere) {
    this.sweeper = setInterval(() => this.sweep(), IDLE_MS)
    this.sweeper.unref()
  }

  run<T>(key: string, order: Order | undefined, task: () => Promise<T>): Promise<T> {
    let lane = this.lanes.get(key)
    if (!lane) {
      lane = { running: false, waiting: [], idleSince: Date.now() }
      this.lanes.set(key, lane)
    }
    const target = lane
    return new Promise<T>((resolve, reject) => {
      const entry: Entry = {
        order,
        task,
        resolve: resolve as (v: unknown) => void,
        reject,
        queuedAt: Date.now(),
      }
      let i = target.waiting.length
      while (i > 0 && before(order, (target.waiting[i - 1] as Entry).order)) i--
      target.waiting.splice(i, 0, entry)
      this.pump(target)
    })
  }

  close(): void {
    clearInterval(this.sweeper)
  }

  private pump(lane: Lane): void {
    if (lane.running) return
    const next = lane.waiting[0]
    if (!next) return
    const gap =
      next.order && lane.last?.epoch === next.order.epoch && next.order.n > lane.last.n + 1
    const waited = Date.now() - next.queuedAt
    if (gap && waited < HOLD_MS && !next.predecessorDone) {
      if (!lane.timer) {
        const prev = next.order?.prev
        const finished = this.finished
        if (prev && finished) {
          // Ask the queue, briefly and repeatedly, rather than wait the whole hold.
          lane.timer = setTimeout(() => {
            finished(prev).then(
              (done) => {
                lane.timer = undefined
                if (done) next.predecessorDone = true
                this.pump(lane)
              },
              () => {
                lane.timer = undefined
                this.pump(lane)
              },
            )
          }, PROBE_MS)
        } else {
          lane.timer = setTimeout(() => {
            lane.timer = undefined
            this.pump(lane)
          }, HOLD_MS - waited)
        }
      }
      return
    }
    lane.waiting.shift()
    lane.running = true
    if (
      next.order &&
      (!lane.last || lane.last.epoch !== next.order.epoch || next.order.n > lane.last.n)
    ) {
      lane.last = next.order
    }
    next
      .task()
      .then(next.resolve, next.reject)
      .finally(() => {
        lane.running = false
        lane.idleSince = Date.now()
        this.pump(lane)
      })
  }

  private sweep(): void {
    const cutoff = Date.now() - IDLE_MS
    for (const [key, lane] of this.lanes) {
      if (!lane.running && lane.waiting.length === 0 && lane.idleSince < cutoff)
        this.lanes.delete(key)
    }
  }
}

function before(a: Order | undefined, b: Order | undefined): boolean {
  return !!a && !!b && a.epoch === b.epoch && a.n < b.n
}

interface Entry {
  order: Order | undefined
  task: () => Promise<unknown>
  resolve: (value: unknown) => void
  reject: (reason: unknown) => void
  queuedAt: number
  /** Set once the queue said the predecessor finished in another process. */
  predecessorDone?: boolean
}

interface Lane {
  running: boolean
  waiting: Entry[]
  last?: Order
  timer?: NodeJS.Timeout
  idleSince: number
}
