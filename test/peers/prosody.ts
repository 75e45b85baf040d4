/**
 * A real Prosody 0.12 for integration tests: one process per `startProsody()`
 * call, with its own c2s port (chosen at runtime), data directory, pidfile and
 * log, rendered from test/peers/prosody.cfg.lua. Nothing is shared between
 * instances, so tap can run test files in parallel.
 *
 * Callers own the process: `t.teardown(() => peer.stop())`. As a safety net
 * the process is also killed when the Node process exits, and a small
 * watchdog kills it if the Node process dies without running exit handlers
 * (SIGKILL, tap's timeout).
 *
 * Debugging: PARLEY_PROSODY_LOG=debug logs every stanza to `peer.logFile`;
 * PARLEY_KEEP_PEERS=1 keeps the instance directories (in the OS temp dir,
 * `parley-prosody-*`) after the process exits.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import {
  canConnect,
  forgetOnExit,
  freePort as freePortOn,
  killOnExit,
  logTail,
  PortTakenError,
  renderTemplate,
  runningPid,
  sleep,
  startOnFreePorts,
  startWatchdog,
} from './peer-process.js'

const execFileAsync = promisify(execFile)
const TEMPLATE = join(dirname(fileURLToPath(import.meta.url)), 'prosody.cfg.lua')
const HOST = '127.0.0.1'

export interface ProsodyUser {
  username: string
  password: string
}

export interface ProsodyOptions {
  /** The VirtualHost. @defaultValue 'parley.test' */
  domain?: string
  /**
   * More VirtualHosts on the same server, e.g. a domain a policy blocks:
   * their users talk to `domain`'s users as users of another domain would.
   */
  extraDomains?: string[]
  /** Accounts registered before `startProsody` resolves. */
  users?: ProsodyUser[]
  /** Prosody's log level (the log is `peer.logFile`). @defaultValue 'info', or env PARLEY_PROSODY_LOG */
  logLevel?: 'debug' | 'info' | 'warn' | 'error'
  /** XEP-0198 `smacks_hibernation_time`: how long a dropped session may be resumed. @defaultValue 60 */
  smacksHibernationSeconds?: number
  /** How long `start()` waits for the port. @defaultValue 10000 */
  startTimeoutMs?: number
}

export interface ProsodyPeer {
  /** The c2s port on 127.0.0.1 (kept across stop/start). */
  readonly port: number
  readonly domain: string
  /** `xmpp://127.0.0.1:PORT`, for @xmpp/client's `service`. */
  readonly service: string
  /** Prosody's `data_path` (kept across stop/start). */
  readonly dataDir: string
  /** The instance directory: config, log, pidfile and data. Removed when the Node process exits. */
  readonly dir: string
  readonly configFile: string
  readonly logFile: string
  /** The running process's pid, or undefined when stopped. */
  readonly pid: number | undefined
  readonly running: boolean
  /** Starts it again after `stop()`, same port and data; resolves once the port accepts connections. */
  start(): Promise<void>
  /** SIGTERM (SIGKILL after 5 s), waits for the exit. Idempotent. */
  stop(): Promise<void>
  /** Adds an account (works whether the server runs or not), on `domain` or one of `extraDomains`. */
  register(username: string, password: string, domain?: string): Promise<void>
  /** SIGSTOP: the socket stays open but nothing answers (a zombie peer). */
  pause(): void
  /** SIGCONT after `pause()`. */
  resume(): void
  /** `username@domain` */
  jid(username: string): string
  /** The last lines of Prosody's log, for assertion messages. */
  logTail(lines?: number): Promise<string>
}

/** Starts a fresh Prosody; see ProsodyPeer. */
export async function startProsody(options: ProsodyOptions = {}): Promise<ProsodyPeer> {
  const peer = new ProsodyInstance(options)
  try {
    await peer.firstStart()
    await Promise.all((options.users ?? []).map((u) => peer.register(u.username, u.password)))
  } catch (err) {
    await peer.stop()
    throw err
  }
  return peer
}

/** Asks the kernel for a free TCP port on the loopback, then releases it for Prosody. */
export function freePort(): Promise<number> {
  return freePortOn(HOST)
}

class ProsodyInstance implements ProsodyPeer {
  port = 0
  readonly domain: string
  readonly dir: string
  readonly dataDir: string
  readonly configFile: string
  readonly logFile: string
  private readonly pidFile: string
  private readonly options: ProsodyOptions
  private child: ChildProcess | undefined
  private exited: Promise<void> | undefined
  private paused = false
  private stopping: Promise<void> | undefined

  constructor(options: ProsodyOptions) {
    this.options = options
    this.domain = options.domain ?? 'parley.test'
    this.dir = mkdtempSync(join(tmpdir(), 'parley-prosody-'))
    this.dataDir = join(this.dir, 'data')
    this.configFile = join(this.dir, 'prosody.cfg.lua')
    this.logFile = join(this.dir, 'prosody.log')
    this.pidFile = join(this.dir, 'prosody.pid')
    mkdirSync(this.dataDir)
    // certmanager complains when its directory is missing, even with no TLS.
    mkdirSync(join(this.dir, 'certs'))
    killOnExit(this)
  }

  get service(): string {
    return `xmpp://${HOST}:${this.port}`
  }

  get pid(): number | undefined {
    return runningPid(this.child)
  }

  get running(): boolean {
    return this.pid !== undefined
  }

  jid(username: string): string {
    return `${username}@${this.domain}`
  }

  /** First start: a port taken by someone else between freePort() and Prosody's bind gets one retry with another port. */
  async firstStart(): Promise<void> {
    await startOnFreePorts(this, async () => {
      this.port = await freePort()
      this.writeConfig()
      return true
    })
  }

  private writeConfig(): void {
    const values: Record<string, string> = {
      PIDFILE: this.pidFile,
      DATA_DIR: this.dataDir,
      LOG_LEVEL: this.options.logLevel ?? process.env.PARLEY_PROSODY_LOG ?? 'info',
      LOG_FILE: this.logFile,
      PORT: String(this.port),
      SMACKS_HIBERNATION: String(this.options.smacksHibernationSeconds ?? 60),
      DOMAIN: this.domain,
      EXTRA_HOSTS: (this.options.extraDomains ?? [])
        .map((d) => {
          if (!/^[a-z0-9.-]+$/.test(d)) throw new Error(`prosody: bad extra domain '${d}'`)
          return `VirtualHost "${d}"`
        })
        .join('\n'),
    }
    writeFileSync(this.configFile, renderTemplate(TEMPLATE, values))
  }

  async start(): Promise<void> {
    if (this.stopping) await this.stopping
    if (this.running) return
    const logStart = this.logSize()
    const out = openSync(join(this.dir, 'stdout.log'), 'a')
    const child = spawn('prosody', ['--config', this.configFile, '-F'], {
      stdio: ['ignore', out, out],
      cwd: this.dir,
    })
    closeSync(out)
    this.child = child
    this.paused = false
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve())
      child.once('error', () => resolve())
    })
    if (child.pid !== undefined) startWatchdog(child.pid, { name: 'parley-prosody-watchdog' })
    await this.waitUntilListening(child, logStart)
  }

  private logSize(): number {
    try {
      return readFileSync(this.logFile).length
    } catch {
      return 0
    }
  }

  private async waitUntilListening(child: ChildProcess, logStart: number): Promise<void> {
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 10_000)
    const activated = `Activated service 'c2s' on [${HOST}]:${this.port}`
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `prosody exited (${child.exitCode ?? child.signalCode}) during start:\n${await this.logTail()}`,
        )
      }
      let log = ''
      try {
        log = readFileSync(this.logFile, 'utf8').slice(logStart)
      } catch {}
      if (/Failed to open server port|Address already in use/.test(log)) {
        throw new PortTakenError(`port ${this.port} is taken`)
      }
      // The log line proves the listener is ours, the connect proves it is up.
      if (log.includes(activated) && (await canConnect(HOST, this.port))) return
      await sleep(20)
    }
    throw new Error(
      `prosody did not listen on ${this.port} within the start timeout:\n${await this.logTail()}`,
    )
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping
    const child = this.child
    if (!child || !this.running) return Promise.resolve()
    this.stopping = (async () => {
      child.kill('SIGTERM')
      // A stopped process only acts on SIGTERM once continued.
      if (this.paused) child.kill('SIGCONT')
      this.paused = false
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await this.exited
      clearTimeout(killer)
    })().finally(() => {
      this.stopping = undefined
    })
    return this.stopping
  }

  /** Synchronous kill for process 'exit'; also removes the instance directory. */
  killNow(): void {
    const pid = this.pid
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    if (!process.env.PARLEY_KEEP_PEERS) rmSync(this.dir, { recursive: true, force: true })
    forgetOnExit(this)
  }

  async register(username: string, password: string, domain = this.domain): Promise<void> {
    await execFileAsync(
      'prosodyctl',
      ['--config', this.configFile, 'register', username, domain, password],
      {
        cwd: this.dir,
        timeout: 10_000,
      },
    )
  }

  pause(): void {
    const pid = this.pid
    if (pid === undefined) throw new Error('prosody is not running')
    process.kill(pid, 'SIGSTOP')
    this.paused = true
  }

  resume(): void {
    const pid = this.pid
    if (pid === undefined) throw new Error('prosody is not running')
    process.kill(pid, 'SIGCONT')
    this.paused = false
  }

  logTail(lines = 30): Promise<string> {
    return logTail(this.logFile, lines)
  }
}
