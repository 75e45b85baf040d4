/**
 * A dedicated Redis 7 for tests that stop, kill or pause it: one
 * `redis-server` per `startRedis()` call on its own free loopback port, with
 * its own directory (`parley-redis-*`) and log. The machine's shared Redis
 * (6379) is never touched: other tests use it.
 *
 * Persistence is on by default, as BullMQ needs it in production: the
 * append-only file with `appendfsync always`, so every write Redis
 * acknowledged (a queued job, a job's move to completed) survives a crash
 * of Redis itself (`kill()`, SIGKILL) and a restart. RDB snapshots are off
 * (`save ''`). `appendonly: false` gives a Redis that forgets everything on
 * restart, to show what that costs.
 *
 * Callers own the process: `t.teardown(() => peer.stop())`. As a safety net
 * it is killed when the Node process exits, and a watchdog kills it if Node
 * dies without running exit handlers. PARLEY_KEEP_PEERS=1 keeps the
 * directory.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import {
  canConnect,
  forgetOnExit,
  freePort,
  killOnExit,
  logTail,
  PortTakenError,
  runningPid,
  sleep,
  startOnFreePorts,
  startWatchdog,
} from './peer-process.js'

const HOST = '127.0.0.1'

export interface RedisOptions {
  /** Append-only file with fsync on every write. @defaultValue true */
  appendonly?: boolean
  /** How long `start()` waits for the port. @defaultValue 10000 */
  startTimeoutMs?: number
}

export interface RedisPeer {
  /** The port on 127.0.0.1 (kept across stop/start). */
  readonly port: number
  /** `redis://127.0.0.1:PORT` */
  readonly url: string
  /** Its working directory: the append-only file and the log. Removed when the Node process exits. */
  readonly dir: string
  readonly logFile: string
  readonly pid: number | undefined
  readonly running: boolean
  /** Starts it again after `stop()`/`kill()`: same port and directory (the AOF is replayed). */
  start(): Promise<void>
  /** SIGTERM (Redis flushes the AOF and exits; SIGKILL after 5 s), waits for the exit. Idempotent. */
  stop(): Promise<void>
  /** SIGKILL: a crash, no goodbye (what was fsynced to the AOF survives). */
  kill(): Promise<void>
  /** `CLIENT PAUSE ms ALL`: every client's commands wait (connections stay open) for `ms`. */
  pause(ms: number): Promise<void>
  /** `CLIENT UNPAUSE`, before the pause runs out. */
  unpause(): Promise<void>
  logTail(lines?: number): Promise<string>
}

/** Starts a fresh Redis; see RedisPeer. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisPeer> {
  const peer = new RedisInstance(options)
  try {
    await peer.firstStart()
  } catch (err) {
    await peer.stop()
    throw err
  }
  return peer
}

class RedisInstance implements RedisPeer {
  port = 0
  readonly dir: string
  readonly logFile: string
  private readonly options: RedisOptions
  private child: ChildProcess | undefined
  private exited: Promise<void> | undefined

  constructor(options: RedisOptions) {
    this.options = options
    this.dir = mkdtempSync(join(tmpdir(), 'parley-redis-'))
    this.logFile = join(this.dir, 'redis.log')
    killOnExit(this)
  }

  get url(): string {
    return `redis://${HOST}:${this.port}`
  }

  get pid(): number | undefined {
    return runningPid(this.child)
  }

  get running(): boolean {
    return this.pid !== undefined
  }

  async firstStart(): Promise<void> {
    await startOnFreePorts(this, async () => {
      this.port = await freePort(HOST)
      return true
    })
  }

  async start(): Promise<void> {
    if (this.running) return
    const aof = this.options.appendonly ?? true
    const args = [
      '--port',
      String(this.port),
      '--bind',
      HOST,
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      aof ? 'yes' : 'no',
      '--appendfsync',
      'always',
      '--protected-mode',
      'no',
      '--daemonize',
      'no',
      '--logfile',
      '',
    ]
    const out = openSync(this.logFile, 'a')
    const child = spawn('redis-server', args, { stdio: ['ignore', out, out], cwd: this.dir })
    closeSync(out)
    this.child = child
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve())
      child.once('error', () => resolve())
    })
    if (child.pid !== undefined) startWatchdog(child.pid, { name: 'parley-redis-watchdog' })
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 10_000)
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const log = await this.logTail()
        if (/Address already in use/.test(log)) throw new PortTakenError(`port ${this.port} taken`)
        throw new Error(`redis-server exited during start:\n${log}`)
      }
      if ((await canConnect(HOST, this.port)) && (await this.answers())) return
      await sleep(20)
    }
    throw new Error(`redis-server did not answer on ${this.port}:\n${await this.logTail()}`)
  }

  /** PING answered: the AOF is loaded (while loading, Redis answers -LOADING). */
  private async answers(): Promise<boolean> {
    const redis = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
    try {
      await redis.connect()
      return (await redis.ping()) === 'PONG'
    } catch {
      return false
    } finally {
      redis.disconnect()
    }
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child
    if (!child || !this.running) return
    child.kill(signal)
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await this.exited
    clearTimeout(killer)
  }

  stop(): Promise<void> {
    return this.signal('SIGTERM')
  }

  kill(): Promise<void> {
    return this.signal('SIGKILL')
  }

  async pause(ms: number): Promise<void> {
    await this.command('client', 'pause', String(ms), 'ALL')
  }

  async unpause(): Promise<void> {
    await this.command('client', 'unpause')
  }

  private async command(name: string, ...args: string[]): Promise<unknown> {
    const redis = new Redis(this.url, { maxRetriesPerRequest: 1 })
    try {
      return await redis.call(name, ...args)
    } finally {
      redis.disconnect()
    }
  }

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

  logTail(lines = 30): Promise<string> {
    return logTail(this.logFile, lines)
  }
}
