/**
 * A host-side PluginContext for plugin tests: records what the plugin emits,
 * the statuses it reports and what it logs, and lets a test wait for them.
 * This fakes the host, never the network: peers are real (test/peers/).
 */
import type {
  ConnectionStatus,
  InboundEvent,
  Logger,
  PluginContext,
  PluginStateStore,
  RosterEntry,
} from '../../core/contract/index.js'

export interface LogEntry {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error'
  obj: Record<string, unknown>
  msg?: string
}

export interface WaitOptions {
  /** @defaultValue 5000 */
  timeoutMs?: number
  /** Only consider entries recorded at or after this index (from `mark()`). @defaultValue 0 */
  since?: number
}

export interface FakePluginContext extends PluginContext {
  /** Every event `emit` accepted, in order (rejected ones are not recorded here). */
  readonly events: InboundEvent[]
  /** Every event `emit` was called with, accepted or not. */
  readonly emitted: InboundEvent[]
  readonly statuses: ConnectionStatus[]
  readonly logs: LogEntry[]
  /** The backing map of `state`. */
  readonly stateMap: Map<string, string>
  /** Every `roster()` report, in order. */
  readonly rosters: Array<{ identity: string; entries: RosterEntry[]; complete: boolean }>
  /**
   * Replaces what `emit` does after recording the call: resolve to accept,
   * throw/reject to refuse (e.g. an error with `retryable`). `undefined` accepts.
   */
  onEmit: ((event: InboundEvent) => Promise<void> | void) | undefined
  /** Indexes to pass as `since`: the current lengths of events, statuses and logs. */
  mark(): { events: number; statuses: number; logs: number }
  waitForEvent<T extends InboundEvent = InboundEvent>(
    predicate: (event: InboundEvent) => boolean,
    options?: WaitOptions,
  ): Promise<T>
  waitForStatus(
    predicate: (status: ConnectionStatus) => boolean,
    options?: WaitOptions,
  ): Promise<ConnectionStatus>
  waitForLog(predicate: (entry: LogEntry) => boolean, options?: WaitOptions): Promise<LogEntry>
  /** Resolves with the first truthy value of `condition`, re-checked whenever the plugin emits, reports or logs. */
  until<T>(
    condition: () => T | undefined | null | false,
    options?: { timeoutMs?: number; what?: string },
  ): Promise<T>
  /** Aborts `signal`, as the host does on shutdown. */
  abort(): void
}

export interface PluginContextOptions {
  /** Also print log lines (or set PARLEY_TEST_LOG=1). */
  print?: boolean
  onEmit?: (event: InboundEvent) => Promise<void> | void
}

export function createPluginContext(options: PluginContextOptions = {}): FakePluginContext {
  const events: InboundEvent[] = []
  const emitted: InboundEvent[] = []
  const statuses: ConnectionStatus[] = []
  const logs: LogEntry[] = []
  const stateMap = new Map<string, string>()
  const controller = new AbortController()
  const print = options.print ?? Boolean(process.env.PARLEY_TEST_LOG)
  const waiters = new Set<() => void>()
  const notify = () => {
    for (const check of [...waiters]) check()
  }

  const logger = (bindings: Record<string, unknown>): Logger => {
    const write =
      (level: LogEntry['level']) =>
      (obj: object, msg?: string): void => {
        const entry: LogEntry = { level, obj: { ...bindings, ...(obj as Record<string, unknown>) } }
        if (msg !== undefined) entry.msg = msg
        logs.push(entry)
        if (print) console.error(`[${level}] ${msg ?? ''} ${JSON.stringify(entry.obj)}`)
        notify()
      }
    return {
      trace: write('trace'),
      debug: write('debug'),
      info: write('info'),
      warn: write('warn'),
      error: write('error'),
      child: (more) => logger({ ...bindings, ...more }),
    }
  }

  const state: PluginStateStore = {
    async get(key) {
      return stateMap.get(key)
    },
    async set(key, value) {
      stateMap.set(key, value)
    },
    async delete(key) {
      stateMap.delete(key)
    },
  }

  /** Resolves with the first truthy value of `condition`, re-checked on every change. */
  function until<T>(
    condition: () => T | undefined | null | false,
    opts: { timeoutMs?: number; what?: string; detail?: () => string } = {},
  ): Promise<T> {
    const { timeoutMs = 5000, what = 'a condition', detail } = opts
    return new Promise<T>((resolve, reject) => {
      const check = () => {
        const value = condition()
        if (value) {
          cleanup()
          resolve(value)
        }
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(
          new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? detail() : ''}`),
        )
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
      check()
    })
  }

  /** The first item of `list` from `since` on that matches. */
  function waitFor<T>(
    list: T[],
    predicate: (item: T) => boolean,
    what: string,
    opts: WaitOptions = {},
  ): Promise<T> {
    const { timeoutMs = 5000, since = 0 } = opts
    let checked = since
    return until<{ item: T }>(
      () => {
        for (; checked < list.length; checked++) {
          const item = list[checked] as T
          if (predicate(item)) return { item }
        }
        return undefined
      },
      {
        timeoutMs,
        what,
        detail: () => `; saw ${JSON.stringify(list.slice(since)).slice(0, 2000)}`,
      },
    ).then(({ item }) => item)
  }

  const rosters: FakePluginContext['rosters'] = []
  const ctx: FakePluginContext = {
    log: logger({ plugin: 'test' }),
    state,
    signal: controller.signal,
    events,
    emitted,
    statuses,
    logs,
    stateMap,
    onEmit: options.onEmit,
    async emit(event) {
      emitted.push(event)
      notify()
      try {
        if (ctx.onEmit) await ctx.onEmit(event)
      } finally {
        notify()
      }
      events.push(event)
      notify()
    },
    rosters,
    async roster(identity, entries, { complete }) {
      rosters.push({ identity, entries, complete })
      notify()
    },
    reportStatus(status) {
      statuses.push({ ...status })
      if (print) console.error(`[status] ${JSON.stringify(status)}`)
      notify()
    },
    mark: () => ({ events: events.length, statuses: statuses.length, logs: logs.length }),
    waitForEvent: <T extends InboundEvent>(
      predicate: (event: InboundEvent) => boolean,
      opts?: WaitOptions,
    ) => waitFor(events, predicate, 'an event', opts) as Promise<T>,
    waitForStatus: (predicate, opts) => waitFor(statuses, predicate, 'a status', opts),
    waitForLog: (predicate, opts) => waitFor(logs, predicate, 'a log entry', opts),
    until: <T>(
      condition: () => T | undefined | null | false,
      opts: { timeoutMs?: number; what?: string } = {},
    ) => until(condition, opts),
    abort: () => controller.abort(),
  }
  return ctx
}
