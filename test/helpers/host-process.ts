/**
 * The real host as a child process (`node --import tsx core/main.ts`), for
 * tests that must kill it (kill -9), pause it (SIGSTOP/SIGCONT) or run
 * several of it at once. It is the same entry point as `npm start`: the
 * config is written to a file in a temp dir and passed as PARLEY_CONFIG.
 *
 *   const host = await startHost(t, { config: { plugins, bots, redis, database } })
 *   await fetch(`${host.baseUrl}/v1/networks`, { headers: host.headers })
 *   await host.kill('SIGKILL')   // kill -9: no drain, no goodbye
 *   await host.restart()         // same port, config and store; a new instance id
 *
 * What it sets in the config unless the caller does: `server.port` (a free
 * one, kept across restarts), `server.logLevel: 'info'` (the up line and
 * network status lines are info), a fresh `security.adminKey`, and `cluster`
 * with a short lease (`leaseMs` 2000, `renewMs` 500: after a kill -9 the
 * restarted process may wait for the dead one's lease to lapse before it
 * connects the network) and an `instanceId` of `<name>-<start number>`, so
 * a restarted process is a new owner, as a real one would be.
 *
 * The environment's operator overrides (PORT, HOST, REDIS_URL, DATABASE_URL,
 * LOG_LEVEL, PARLEY_ADMIN_KEY) are removed from what the child inherits: the
 * config file alone says where it goes.
 *
 * The process is stopped at test teardown (SIGTERM, SIGKILL after 10 s); as
 * a safety net it is killed when the Node process exits, and a watchdog
 * kills it if Node dies without running exit handlers.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { generateKey } from '../../core/auth/keys.js'
import type { ParleyConfigInput } from '../../core/config/schema.js'
import {
  forgetOnExit,
  freePort,
  killOnExit,
  runningPid,
  startWatchdog,
} from '../peers/peer-process.js'
import { ROOT } from './app.js'

export interface HostProcessOptions {
  /** The operator's config (what fastify.config.ts would export). Paths in it resolve from the repository root. */
  config: ParleyConfigInput
  /** A name for logs and the instance ids. @defaultValue 'host' */
  name?: string
  /** Extra environment for the child. */
  env?: Record<string, string>
  /** How long a start may take until 'parley is up'. @defaultValue 30000 */
  startTimeoutMs?: number
  /** Lines of log kept in memory (the oldest are dropped). @defaultValue 200000 */
  maxLogLines?: number
}

/** One line the host wrote: its pino JSON (parsed) or, for stderr and non-JSON output, the text. */
export interface HostLogLine {
  /** Which start of the process wrote it (1 for the first). */
  start: number
  stream: 'stdout' | 'stderr'
  text: string
  /** The parsed pino entry, when the line is JSON. */
  entry?: Record<string, unknown> & { msg?: string; level?: number }
}

export interface HostProcess {
  /** `http://127.0.0.1:PORT` (the port is kept across restarts). */
  readonly baseUrl: string
  readonly port: number
  /** The admin API key in the config. */
  readonly adminKey: string
  /** `{ authorization: 'Bearer <adminKey>' }` */
  readonly headers: { authorization: string }
  /** The config file the child loads (PARLEY_CONFIG). */
  readonly configFile: string
  /** The running child's pid, or undefined when it is not running. */
  readonly pid: number | undefined
  readonly running: boolean
  /** How many times the process was started. */
  readonly starts: number
  /** The current (or last) process's `cluster.instanceId`. */
  readonly instanceId: string
  /** Every line written so far, across restarts. */
  readonly logs: readonly HostLogLine[]
  /** Starts the process (again); resolves on its 'parley is up' line. */
  start(): Promise<void>
  /**
   * Sends `signal`. SIGKILL and SIGTERM wait for the exit; SIGSTOP and
   * SIGCONT return at once (the process is paused or continued).
   */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Graceful stop (SIGTERM; SIGKILL after 10 s) if running, then start. */
  restart(): Promise<void>
  /** Graceful stop (SIGTERM; SIGKILL after 10 s). Idempotent. */
  stop(): Promise<void>
  /** `fetch(baseUrl + path)` with the admin key. */
  fetch(path: string, init?: RequestInit): Promise<Response>
  /** Resolves with the first line (from now or already logged, since `since`) that matches. */
  waitForLog(
    match: (line: HostLogLine) => boolean,
    options?: { timeoutMs?: number; since?: number },
  ): Promise<HostLogLine>
  /** Polls GET /v1/networks/<name> until its status is one of `states`. */
  waitForNetwork(name: string, states: string[], timeoutMs?: number): Promise<void>
  /** The last lines, for assertion messages. */
  logTail(lines?: number): string
}

const UP_LINE = 'parley is up'
const STRIPPED_ENV = [
  'PORT',
  'HOST',
  'LOG_LEVEL',
  'REDIS_URL',
  'DATABASE_URL',
  'PARLEY_ADMIN_KEY',
  'PARLEY_CONFIG',
]

/** Starts the host in a child process and stops it at `t`'s teardown (pass undefined to own it yourself). */
export async function startHost(
  t: Pick<Test, 'teardown'> | undefined,
  options: HostProcessOptions,
): Promise<HostProcess> {
  const host = new HostChild(options, await freePort())
  t?.teardown(() => host.dispose())
  try {
    await host.start()
  } catch (err) {
    await host.dispose()
    throw err
  }
  return host
}

class HostChild implements HostProcess {
  readonly port: number
  readonly adminKey: string
  readonly configFile: string
  readonly logs: HostLogLine[] = []
  starts = 0
  instanceId = ''
  private readonly dir: string
  private readonly options: HostProcessOptions
  private readonly name: string
  private child: ChildProcess | undefined
  private exited: Promise<void> | undefined
  private readonly listeners = new Set<(line: HostLogLine) => void>()

  constructor(options: HostProcessOptions, port: number) {
    this.options = options
    this.name = options.name ?? 'host'
    this.port = options.config.server?.port ?? port
    this.adminKey = options.config.security?.adminKey ?? generateKey().key
    this.dir = mkdtempSync(join(tmpdir(), 'parley-host-'))
    this.configFile = join(this.dir, 'parley.config.mjs')
    killOnExit(this)
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`
  }

  get headers(): { authorization: string } {
    return { authorization: `Bearer ${this.adminKey}` }
  }

  get pid(): number | undefined {
    return runningPid(this.child)
  }

  get running(): boolean {
    return this.pid !== undefined
  }

  private writeConfig(): void {
    const { config } = this.options
    const written: ParleyConfigInput = {
      ...config,
      server: { logLevel: 'info', ...config.server, host: '127.0.0.1', port: this.port },
      security: { ...config.security, adminKey: this.adminKey },
      cluster: { leaseMs: 2000, renewMs: 500, ...config.cluster, instanceId: this.instanceId },
    }
    // JSON in an ES module: the loader imports it like fastify.config.ts.
    writeFileSync(this.configFile, `export default ${JSON.stringify(written, null, 2)}\n`)
  }

  async start(): Promise<void> {
    if (this.running) return
    this.starts++
    const start = this.starts
    this.instanceId = `${this.name}-${start}`
    this.writeConfig()
    const env: Record<string, string | undefined> = { ...process.env }
    for (const name of STRIPPED_ENV) delete env[name]
    const child = spawn(process.execPath, ['--import', 'tsx', 'core/main.ts'], {
      cwd: ROOT,
      env: { ...env, ...this.options.env, PARLEY_CONFIG: this.configFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = child
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve())
      child.once('error', () => resolve())
    })
    if (child.pid !== undefined) startWatchdog(child.pid, { name: 'parley-host-watchdog' })
    this.capture(child, 'stdout', start)
    this.capture(child, 'stderr', start)
    const timeoutMs = this.options.startTimeoutMs ?? 30_000
    const up = this.waitForLog((l) => l.start === start && l.entry?.msg === UP_LINE, {
      timeoutMs,
      since: this.logs.length,
    })
    const died = this.exited.then(() => {
      throw new Error(
        `${this.name} exited (${child.exitCode ?? child.signalCode}) during start:\n${this.logTail(30)}`,
      )
    })
    await Promise.race([up, died])
    died.catch(() => {})
  }

  private capture(child: ChildProcess, stream: 'stdout' | 'stderr', start: number): void {
    let rest = ''
    const source = stream === 'stdout' ? child.stdout : child.stderr
    source?.setEncoding('utf8')
    source?.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n')
      rest = parts.pop() ?? ''
      for (const text of parts) if (text) this.push({ start, stream, text })
    })
    source?.on('end', () => {
      if (rest) this.push({ start, stream, text: rest })
      rest = ''
    })
  }

  private push(line: HostLogLine): void {
    if (line.text.startsWith('{')) {
      try {
        line.entry = JSON.parse(line.text) as HostLogLine['entry']
      } catch {}
    }
    this.logs.push(line)
    const max = this.options.maxLogLines ?? 200_000
    if (this.logs.length > max) this.logs.splice(0, this.logs.length - max)
    for (const listener of [...this.listeners]) listener(line)
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child
    const pid = this.pid
    if (!child || pid === undefined) return
    process.kill(pid, signal)
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') return
    // A stopped process acts on SIGTERM only once continued.
    if (signal === 'SIGTERM') process.kill(pid, 'SIGCONT')
    await this.exited
  }

  async stop(): Promise<void> {
    const pid = this.pid
    if (pid === undefined) return
    const killer = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }, 10_000)
    await this.kill('SIGTERM')
    clearTimeout(killer)
  }

  async restart(): Promise<void> {
    await this.stop()
    await this.start()
  }

  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers)
    if (!headers.has('authorization')) headers.set('authorization', this.headers.authorization)
    return fetch(`${this.baseUrl}${path}`, { ...init, headers })
  }

  waitForLog(
    match: (line: HostLogLine) => boolean,
    options: { timeoutMs?: number; since?: number } = {},
  ): Promise<HostLogLine> {
    const found = this.logs.slice(options.since ?? 0).find(match)
    if (found) return Promise.resolve(found)
    const timeoutMs = options.timeoutMs ?? 10_000
    return new Promise((resolve, reject) => {
      const listener = (line: HostLogLine) => {
        if (!match(line)) return
        clearTimeout(timer)
        this.listeners.delete(listener)
        resolve(line)
      }
      const timer = setTimeout(() => {
        this.listeners.delete(listener)
        reject(
          new Error(
            `${this.name}: no matching log line within ${timeoutMs} ms:\n${this.logTail(20)}`,
          ),
        )
      }, timeoutMs)
      this.listeners.add(listener)
    })
  }

  async waitForNetwork(name: string, states: string[], timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    let last = 'no answer'
    while (Date.now() < deadline) {
      try {
        const res = await this.fetch(`/v1/networks/${name}`)
        const body = (await res.json()) as { status?: string }
        last = `${res.status} ${body.status}`
        if (res.ok && body.status && states.includes(body.status)) return
      } catch (err) {
        last = (err as Error).message
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(
      `${this.name}: network ${name} not ${states.join('|')} within ${timeoutMs} ms (last: ${last})`,
    )
  }

  logTail(lines = 40): string {
    return this.logs
      .slice(-lines)
      .map((l) => `[${this.name}#${l.start} ${l.stream}] ${l.text}`)
      .join('\n')
  }

  async dispose(): Promise<void> {
    await this.stop()
    forgetOnExit(this)
    rmSync(this.dir, { recursive: true, force: true })
  }

  /** Synchronous kill for process 'exit'. */
  killNow(): void {
    const pid = this.pid
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    rmSync(this.dir, { recursive: true, force: true })
    forgetOnExit(this)
  }
}
