/**
 * A real Kamailio 5.6 playing the SIP/SIMPLE provider clouds (AOL, Yahoo,
 * Windows Live) for integration tests: one process per `startKamailio()`
 * call, on its own loopback address (default 127.0.0.2) with UDP, TCP and TLS
 * ports chosen at runtime, rendered from test/peers/kamailio.cfg and
 * test/peers/kamailio-tls.cfg into its own temp dir (`parley-kamailio-*`).
 *
 * What it does (see kamailio.cfg):
 * - registrar for the provider domains (usrloc in memory, no authentication)
 * - presence server: PUBLISH, SUBSCRIBE for presence/presence.winfo
 *   (presence_xml, force_active: every watcher is allowed)
 * - relays MESSAGE, INVITE, other SUBSCRIBEs... to the registered user
 * - federation: requests whose R-URI domain is `parleyDomain` go to
 *   `parleyTarget` (Parley's edge listener), over TLS with Kamailio's client
 *   certificate when its transport is tls; INVITE/SUBSCRIBE are record-routed
 * - mutual TLS on the TLS listener with a throwaway CA (`peer.ca`, see
 *   tls-ca.ts): a client without a certificate signed by it is refused
 *
 * Clients send initial requests with a pre-loaded Route to the proxy
 * (`peer.route(transport)`), which Kamailio removes.
 *
 * Callers own the process: `t.teardown(() => peer.stop())`. As a safety net
 * the process group is killed when the Node process exits, and a watchdog
 * kills it if Node dies without exit handlers.
 *
 * Debugging: PARLEY_KAMAILIO_LOG=debug logs every message to `peer.logFile`;
 * PARLEY_KEEP_PEERS=1 keeps the instance directory (and the CA's).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import {
  closeSync,
  cpSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import {
  canConnect,
  forgetOnExit,
  freePort,
  killOnExit,
  logTail,
  PortTakenError,
  renderTemplate,
  runningPid,
  sleep,
  startOnFreePorts,
  startWatchdog,
} from './peer-process.js'
import { createTestCa, type TestCa } from './tls-ca.js'

const execFileAsync = promisify(execFile)
const HERE = dirname(fileURLToPath(import.meta.url))
const TEMPLATE = join(HERE, 'kamailio.cfg')
const TLS_TEMPLATE = join(HERE, 'kamailio-tls.cfg')
const DBTEXT_TABLES = '/usr/share/kamailio/dbtext/kamailio'

export type SipTransport = 'udp' | 'tcp' | 'tls'

export interface ParleyTarget {
  /** IP address of Parley's edge listener. */
  address: string
  port: number
  transport: SipTransport
}

export interface KamailioOptions {
  /** The loopback address Kamailio listens on (keep it unique per endpoint). @defaultValue '127.0.0.2' */
  address?: string
  /** The provider domains (aliases). @defaultValue ['aol.test', 'yahoo.test', 'live.test'] */
  domains?: string[]
  /** Requests for this R-URI domain go to `parleyTarget`. @defaultValue 'parley.test' */
  parleyDomain?: string
  /** Parley's edge listener; without it requests for the Parley domain get 503. */
  parleyTarget?: ParleyTarget
  /** Also act as the presence server of the Parley domain (PUBLISH and SUBSCRIBE handled here). */
  parleyPresenceServer?: boolean
  /** Certificates; by default a fresh CA whose Kamailio certificate matches `address` and `domains`. */
  ca?: TestCa
  /** Mutual TLS on the TLS listener. @defaultValue true */
  requireClientCert?: boolean
  /** Kamailio's log level (the log is `peer.logFile`). @defaultValue 'info', or env PARLEY_KAMAILIO_LOG */
  logLevel?: 'debug' | 'info' | 'notice' | 'warn' | 'error'
  /** How long `start()` waits for the ports. @defaultValue 10000 */
  startTimeoutMs?: number
}

export interface KamailioPeer {
  /** The loopback address of every listener. */
  readonly address: string
  readonly udpPort: number
  readonly tcpPort: number
  readonly tlsPort: number
  readonly domains: readonly string[]
  readonly parleyDomain: string
  readonly parleyTarget: ParleyTarget | undefined
  /** The CA and certificates in use (Kamailio's own is `ca.kamailio`). */
  readonly ca: TestCa
  /** The instance directory: configs, log, pidfile, db_text tables. Removed when the Node process exits. */
  readonly dir: string
  readonly configFile: string
  readonly tlsConfigFile: string
  readonly logFile: string
  /** The running main process's pid, or undefined when stopped. */
  readonly pid: number | undefined
  readonly running: boolean
  /** Starts it again after `stop()` (same ports; registrations and presence are gone). */
  start(): Promise<void>
  /** SIGTERM to the process group (SIGKILL after 5 s), waits for the exit. Idempotent. */
  stop(): Promise<void>
  /** stop() + start(); `parleyTarget` (null: none) changes where the Parley domain goes. */
  restart(changes?: { parleyTarget?: ParleyTarget | null }): Promise<void>
  /** `port` for a transport. */
  port(transport: SipTransport): number
  /** The proxy's URI for a transport: `sip:ADDR:PORT;transport=tcp`. */
  uri(transport: SipTransport): string
  /** The same with `;lr`, for a client's pre-loaded Route header. */
  route(transport: SipTransport): string
  /** The last lines of Kamailio's log, for assertion messages. */
  logTail(lines?: number): Promise<string>
}

/** Starts a fresh Kamailio; see KamailioPeer. */
export async function startKamailio(options: KamailioOptions = {}): Promise<KamailioPeer> {
  const address = options.address ?? '127.0.0.2'
  const domains = options.domains ?? ['aol.test', 'yahoo.test', 'live.test']
  const ca =
    options.ca ??
    (await createTestCa({
      kamailioIps: [address],
      kamailioDomains: domains,
      parleyDomain: options.parleyDomain ?? 'parley.test',
    }))
  const peer = new KamailioInstance(options, address, domains, ca)
  try {
    await peer.firstStart()
  } catch (err) {
    await peer.stop()
    throw err
  }
  return peer
}

export { freePort }

const LOG_LEVELS = { error: -1, warn: 0, notice: 1, info: 2, debug: 3 } as const

class KamailioInstance implements KamailioPeer {
  udpPort = 0
  tcpPort = 0
  tlsPort = 0
  readonly address: string
  readonly domains: readonly string[]
  readonly parleyDomain: string
  parleyTarget: ParleyTarget | undefined
  readonly presenceServer: boolean
  readonly ca: TestCa
  readonly dir: string
  readonly configFile: string
  readonly tlsConfigFile: string
  readonly logFile: string
  private readonly dbDir: string
  private readonly pidFile: string
  private readonly options: KamailioOptions
  private child: ChildProcess | undefined
  private exited: Promise<void> | undefined
  private stopping: Promise<void> | undefined

  constructor(options: KamailioOptions, address: string, domains: string[], ca: TestCa) {
    this.options = options
    this.address = address
    this.domains = domains
    this.ca = ca
    this.parleyDomain = options.parleyDomain ?? 'parley.test'
    this.parleyTarget = options.parleyTarget
    this.presenceServer = options.parleyPresenceServer === true
    this.dir = mkdtempSync(join(tmpdir(), 'parley-kamailio-'))
    this.configFile = join(this.dir, 'kamailio.cfg')
    this.tlsConfigFile = join(this.dir, 'tls.cfg')
    this.logFile = join(this.dir, 'kamailio.log')
    this.dbDir = join(this.dir, 'db')
    this.pidFile = join(this.dir, 'kamailio.pid')
    killOnExit(this)
  }

  get pid(): number | undefined {
    return runningPid(this.child)
  }

  get running(): boolean {
    return this.pid !== undefined
  }

  port(transport: SipTransport): number {
    return transport === 'tls' ? this.tlsPort : transport === 'tcp' ? this.tcpPort : this.udpPort
  }

  uri(transport: SipTransport): string {
    return `sip:${this.address}:${this.port(transport)};transport=${transport}`
  }

  route(transport: SipTransport): string {
    return `${this.uri(transport)};lr`
  }

  /** Checks the config once, then starts; a port taken between freePort() and the bind gets a retry. */
  async firstStart(): Promise<void> {
    await startOnFreePorts(this, async (attempt) => {
      this.tcpPort = await freePort(this.address)
      this.udpPort = this.tcpPort
      this.tlsPort = await freePort(this.address)
      if (this.tlsPort === this.tcpPort) return false
      this.writeConfig()
      if (attempt === 0) await this.checkConfig()
      return true
    })
  }

  private async checkConfig(): Promise<void> {
    try {
      await execFileAsync('kamailio', ['-c', '-f', this.configFile], { timeout: 10_000 })
    } catch (err) {
      const { stdout, stderr } = err as { stdout?: string; stderr?: string }
      throw new Error(
        `kamailio -c -f ${this.configFile} failed:\n${stderr ?? ''}${stdout ?? ''}`.trimEnd(),
      )
    }
  }

  private writeConfig(): void {
    const level = this.options.logLevel ?? process.env.PARLEY_KAMAILIO_LOG ?? 'info'
    const logLevel = LOG_LEVELS[level as keyof typeof LOG_LEVELS]
    if (logLevel === undefined) throw new Error(`kamailio: unknown log level ${level}`)
    const target = this.parleyTarget
    const values: Record<string, string> = {
      LOG_LEVEL: String(logLevel),
      RUN_DIR: this.dir,
      ADDRESS: this.address,
      UDP_PORT: String(this.udpPort),
      TCP_PORT: String(this.tcpPort),
      TLS_PORT: String(this.tlsPort),
      ALIASES: this.domains.map((d) => `alias="${d}"`).join('\n'),
      PARLEY_DEFINE: [
        target
          ? `#!define PARLEY_TARGET "sip:${target.address}:${target.port};transport=${target.transport}"`
          : '',
        this.presenceServer ? '#!define PARLEY_PRESENCE_SERVER' : '',
      ].join('\n'),
      PARLEY_DOMAIN: this.parleyDomain,
      TLS_CONFIG: this.tlsConfigFile,
      DB_DIR: this.dbDir,
    }
    const mtls = (this.options.requireClientCert ?? true) ? 'yes' : 'no'
    const tlsValues: Record<string, string> = {
      VERIFY_CLIENT: mtls,
      REQUIRE_CLIENT: mtls,
      KEY_FILE: this.ca.kamailio.keyFile,
      CERT_FILE: this.ca.kamailio.certFile,
      CA_FILE: this.ca.caFile,
    }
    writeFileSync(this.configFile, renderTemplate(TEMPLATE, values))
    writeFileSync(this.tlsConfigFile, renderTemplate(TLS_TEMPLATE, tlsValues))
  }

  async start(): Promise<void> {
    if (this.stopping) await this.stopping
    if (this.running) return
    // A fresh copy of Debian's db_text tables per start: nothing survives a restart.
    rmSync(this.dbDir, { recursive: true, force: true })
    cpSync(DBTEXT_TABLES, this.dbDir, { recursive: true })
    const logStart = this.logSize()
    const out = openSync(this.logFile, 'a')
    const child = spawn(
      'kamailio',
      ['-f', this.configFile, '-P', this.pidFile, '-E', '-DD', '-m', '64', '-M', '8'],
      // Its own process group: stop() and the exit hook signal the workers too.
      { stdio: ['ignore', out, out], cwd: this.dir, detached: true },
    )
    closeSync(out)
    this.child = child
    this.exited = new Promise((resolve) => {
      child.once('exit', () => resolve())
      child.once('error', () => resolve())
    })
    if (child.pid !== undefined)
      startWatchdog(child.pid, { name: 'parley-kamailio-watchdog', group: true })
    await this.waitUntilListening(child, logStart)
  }

  private logSize(): number {
    try {
      return statSync(this.logFile).size
    } catch {
      return 0
    }
  }

  private async waitUntilListening(child: ChildProcess, logStart: number): Promise<void> {
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 10_000)
    while (Date.now() < deadline) {
      const exited = child.exitCode !== null || child.signalCode !== null
      let log = ''
      try {
        log = readFileSync(this.logFile, 'utf8').slice(logStart)
      } catch {}
      if (/Address already in use/.test(log)) {
        throw new PortTakenError(`port ${this.tcpPort}/${this.tlsPort} is taken`)
      }
      if (exited) {
        throw new Error(
          `kamailio exited (${child.exitCode ?? child.signalCode}) during start:\n${await this.logTail()}`,
        )
      }
      if (
        (await canConnect(this.address, this.tcpPort)) &&
        (await canConnect(this.address, this.tlsPort))
      ) {
        return
      }
      await sleep(20)
    }
    throw new Error(
      `kamailio did not listen on ${this.address}:${this.tcpPort} within the start timeout:\n${await this.logTail()}`,
    )
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping
    const child = this.child
    const pid = this.pid
    if (!child || pid === undefined) return Promise.resolve()
    this.stopping = (async () => {
      signalGroup(pid, 'SIGTERM')
      const killer = setTimeout(() => signalGroup(pid, 'SIGKILL'), 5000)
      await this.exited
      clearTimeout(killer)
      // The main process reaps its workers; make sure none outlives it.
      signalGroup(pid, 'SIGKILL')
    })().finally(() => {
      this.stopping = undefined
    })
    return this.stopping
  }

  async restart(changes: { parleyTarget?: ParleyTarget | null } = {}): Promise<void> {
    await this.stop()
    if (changes.parleyTarget !== undefined) {
      this.parleyTarget = changes.parleyTarget ?? undefined
    }
    this.writeConfig()
    await this.start()
  }

  /** Synchronous kill for process 'exit'; also removes the instance directory. */
  killNow(): void {
    const pid = this.pid
    if (pid !== undefined) signalGroup(pid, 'SIGKILL')
    if (!process.env.PARLEY_KEEP_PEERS) rmSync(this.dir, { recursive: true, force: true })
    forgetOnExit(this)
  }

  logTail(lines = 40): Promise<string> {
    return logTail(this.logFile, lines)
  }
}

/** Signals Kamailio's process group (its main process leads it: spawned detached). */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {}
}
