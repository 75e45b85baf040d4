import { randomUUID } from 'node:crypto'

/**
 * Where an event stands in its conversation: `n` counts up per key within
 * one accepting process (`epoch`). Gaps tell a worker that an earlier event
 * of the conversation has not reached it yet.
 */
export interface Order {
  epoch: string
  n: number
}

/** Hands out per-key sequence numbers where events are accepted (one process per connection). */
export class Sequencer {
  private readonly epoch = randomUUID().slice(0, 8)
  private readonly counters = new Map<string, number>()

  next(key: string): Order {
    // Bounded memory: forgetting a key only starts a new epoch-less run for it.
    if (this.counters.size > 100_000) this.counters.clear()
    const n = (this.counters.get(key) ?? 0) + 1
    this.counters.set(key, n)
    return { epoch: this.epoch, n }
  }
}

/** How long a task waits for a missing predecessor before it runs anyway. */
const HOLD_MS = 250
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

  constructor() {
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
    if (gap && waited < HOLD_MS) {
      if (!lane.timer) {
        lane.timer = setTimeout(() => {
          lane.timer = undefined
          this.pump(lane)
        }, HOLD_MS - waited)
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
}

interface Lane {
  running: boolean
  waiting: Entry[]
  last?: Order
  timer?: NodeJS.Timeout
  idleSince: number
}
