/**
 * What the real test peers (Prosody, Kamailio) share as child processes:
 * free ports, config templates, waiting for a listener, log tails, and
 * making sure no peer outlives the Node process that started it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'

/** Asks the kernel for a free TCP port on `host`, then releases it for a peer. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer()
  server.listen(0, host)
  await once(server, 'listening')
  const address = server.address()
  server.close()
  await once(server, 'close')
  if (address === null || typeof address === 'string') throw new Error('no port from the kernel')
  return address.port
}

/** A start failed because its port was taken meanwhile: the caller tries other ports. */
export class PortTakenError extends Error {}

/** The pid of `child` while it runs (not exited, not killed), else undefined. */
export function runningPid(child: ChildProcess | undefined): number | undefined {
  return child?.exitCode === null && child.signalCode === null ? child.pid : undefined
}

/**
 * A peer's first start on fresh ports: `prepare(attempt)` picks them and
 * writes the config (false: the pick is unusable, pick again); a port taken
 * between freePort() and the peer's bind (PortTakenError) gets another
 * try, up to three in all. Any other failure stops the peer and is thrown.
 */
export async function startOnFreePorts(
  peer: { start(): Promise<void>; stop(): Promise<void> },
  prepare: (attempt: number) => Promise<boolean>,
): Promise<void> {
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    if (!(await prepare(attempt))) continue
    try {
      await peer.start()
      return
    } catch (err) {
      lastError = err
      await peer.stop()
      if (!(err instanceof PortTakenError)) break
    }
  }
  throw lastError
}

/** `template` (a file) with every `{{NAME}}` replaced; a missing value throws, naming the file. */
export function renderTemplate(template: string, values: Record<string, string>): string {
  const name = template.split('/').pop()
  return readFileSync(template, 'utf8').replace(/\{\{([A-Z_]+)\}\}/g, (_, key: string) => {
    const value = values[key]
    if (value === undefined) throw new Error(`${name}: no value for {{${key}}}`)
    return value
  })
}

export function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
    socket.setTimeout(500, () => done(false))
  })
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** The last `lines` lines of a log file, or `(no log)`. */
export async function logTail(file: string, lines: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/**
 * Kills `pid` (with `group`, its whole process group) if this Node process
 * dies without running its exit handlers (SIGKILL, an abort). Detached and
 * unref'd: it never keeps Node alive, and it ends on its own when the peer
 * ends. `kill -9 -PGID`, not `kill -9 -- -PGID`: /bin/sh is dash, whose kill
 * rejects `--`.
 */
export function startWatchdog(pid: number, options: { name: string; group?: boolean }): void {
  const kill = options.group
    ? 'kill -0 "$1" 2>/dev/null || kill -9 "-$2" 2>/dev/null'
    : 'kill -9 "$2" 2>/dev/null'
  const script = `while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 0.5; done; ${kill}; exit 0`
  const watchdog = spawn('sh', ['-c', script, options.name, String(process.pid), String(pid)], {
    stdio: 'ignore',
    detached: true,
  })
  watchdog.unref()
}

/** A running peer that can be killed synchronously (from a process 'exit' handler). */
export interface KillableNow {
  killNow(): void
}

const live = new Set<KillableNow>()
let exitHookInstalled = false

/** Kills `peer` when this process exits ('exit' handlers must be synchronous). */
export function killOnExit(peer: KillableNow): void {
  live.add(peer)
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const p of live) p.killNow()
  })
}

/** The peer is gone: no need to kill it at exit. */
export function forgetOnExit(peer: KillableNow): void {
  live.delete(peer)
}
