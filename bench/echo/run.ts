/**
 * bench/echo: the same XMPP load against (a) a direct @xmpp/client echo bot
 * with no queue and (b) Parley (xmpp plugin, BullMQ, SQLite, echo bot), each
 * in its own process, against one real Prosody. Prints throughput, p50/p99
 * latency and the ratios; writes bench/results/echo-<time>.json; the last line
 * is a one-line summary. Not a test: it asserts nothing about speed.
 *
 * BENCH_PINGPONG (2000) and BENCH_WINDOW_TOTAL (20000), BENCH_WINDOW (100) scale it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKey } from '../../core/auth/keys.js'
import { deleteRedisPrefix } from '../../test/helpers/app.js'
import { connectUser, type XmppUser } from '../../test/helpers/xmpp-user.js'
import { freePort, startProsody } from '../../test/peers/prosody.js'
import { percentile, round, writeResults } from '../lib/figures.js'

const ROOT = new URL('../../', import.meta.url).pathname
/** The Parley host's admin key (PARLEY_ADMIN_KEY): the REST API needs one. */
const ADMIN_KEY = generateKey().key
const PINGPONG = Number(process.env.BENCH_PINGPONG ?? 2000)
const WINDOW = Number(process.env.BENCH_WINDOW ?? 100)
const WINDOW_TOTAL = Number(process.env.BENCH_WINDOW_TOTAL ?? 20000)
const WARMUP = 200

interface Figures {
  pingpong: { roundTripsPerSec: number; p50: number; p99: number }
  window: { msgsPerSec: number; p50: number; p99: number; lost: number }
  cpuSeconds?: number
}

/** Sends one message per reply; returns latencies (ms). */
async function pingPong(
  user: XmppUser,
  bot: string,
  count: number,
  tag: string,
): Promise<number[]> {
  const latencies: number[] = []
  let resolveReply: (() => void) | undefined
  user.onMessage(() => resolveReply?.())
  for (let i = 0; i < count; i++) {
    const sentAt = performance.now()
    const reply = new Promise<void>((resolve) => {
      resolveReply = resolve
    })
    await user.send(bot, `${tag}${i}`)
    await reply
    latencies.push(performance.now() - sentAt)
  }
  resolveReply = undefined
  return latencies
}

/** Keeps `window` messages outstanding until `total` have been answered. */
async function windowed(user: XmppUser, bot: string, total: number, window: number, tag: string) {
  const sentAt = new Map<string, number>()
  const latencies: number[] = []
  let sent = 0
  let done: () => void = () => {}
  const finished = new Promise<void>((resolve) => {
    done = resolve
  })
  const sendNext = () => {
    const body = `${tag}${sent++}`
    sentAt.set(body, performance.now())
    void user.send(bot, body)
  }
  user.onMessage((m) => {
    const body = m.body.replace(/^echo: /, '')
    const at = sentAt.get(body)
    if (at === undefined) return
    sentAt.delete(body)
    latencies.push(m.at - at)
    if (sent < total) sendNext()
    else if (sentAt.size === 0) done()
  })
  const start = performance.now()
  for (let i = 0; i < Math.min(window, total); i++) sendNext()
  const timeout = setTimeout(done, 120_000)
  await finished
  clearTimeout(timeout)
  const seconds = (performance.now() - start) / 1000
  return { latencies, seconds, lost: sentAt.size }
}

async function measure(
  name: string,
  user: XmppUser,
  bot: string,
  child: ChildProcess,
): Promise<Figures> {
  await pingPong(user, bot, WARMUP, `${name}-warm-`)
  const cpuBefore = await cpuOf(child)
  const pp = await pingPong(user, bot, PINGPONG, `${name}-pp-`)
  const ppSeconds = pp.reduce((a, b) => a + b, 0) / 1000
  const win = await windowed(user, bot, WINDOW_TOTAL, WINDOW, `${name}-w-`)
  const cpuAfter = await cpuOf(child)
  const ppSorted = [...pp].sort((a, b) => a - b)
  const wSorted = [...win.latencies].sort((a, b) => a - b)
  return {
    pingpong: {
      roundTripsPerSec: round(PINGPONG / ppSeconds, 0),
      p50: round(percentile(ppSorted, 50)),
      p99: round(percentile(ppSorted, 99)),
    },
    window: {
      msgsPerSec: round(win.latencies.length / win.seconds, 0),
      p50: round(percentile(wSorted, 50)),
      p99: round(percentile(wSorted, 99)),
      lost: win.lost,
    },
    cpuSeconds:
      cpuBefore !== undefined && cpuAfter !== undefined ? round(cpuAfter - cpuBefore) : undefined,
  }
}

/** CPU seconds (user+system) a child process has used, from /proc. */
async function cpuOf(child: ChildProcess): Promise<number | undefined> {
  try {
    const { readFileSync } = await import('node:fs')
    const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

function startChild(
  args: string[],
  env: Record<string, string>,
  ready: (line: string) => boolean,
): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(`  [${args[0]}] ${d}`))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not become ready`)), 30_000)
    child.stdout?.on('data', (d: Buffer) => {
      if (ready(String(d))) {
        clearTimeout(timer)
        resolve(child)
      }
    })
    child.on('exit', (code) => reject(new Error(`${args[0]} exited with ${code}`)))
  })
}

async function waitOnline(port: number): Promise<void> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v1/networks/xmpp`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      })
      if (res.ok && ((await res.json()) as { status?: string }).status === 'online') return
    } catch {}
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('parley did not come online')
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))])
  if (child.exitCode === null) child.kill('SIGKILL')
}

async function main(): Promise<void> {
  console.log(
    `bench/echo: ping-pong ${PINGPONG} (after ${WARMUP} warm-up), window ${WINDOW} for ${WINDOW_TOTAL} messages`,
  )
  const prosody = await startProsody({
    users: [
      { username: 'direct', password: 'pw' },
      { username: 'parley', password: 'pw' },
      { username: 'user', password: 'pw' },
    ],
  })
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-'))
  const prefix = `bench-${process.pid}`
  const xmppEnv = (username: string) => ({
    XMPP_SERVICE: prosody.service,
    XMPP_DOMAIN: prosody.domain,
    XMPP_USERNAME: username,
    XMPP_PASSWORD: 'pw',
  })
  const user = await connectUser({
    service: prosody.service,
    domain: prosody.domain,
    username: 'user',
    password: 'pw',
  })
  const results: Record<string, Figures> = {}
  try {
    console.log('(a) direct @xmpp/client echo bot, no queue')
    const direct = await startChild(['bench/echo/direct-bot.ts'], xmppEnv('direct'), (l) =>
      l.includes('ready'),
    )
    results.direct = await measure('direct', user, prosody.jid('direct'), direct)
    await stopChild(direct)
    console.log(
      '(b) Parley: xmpp plugin -> BullMQ -> echo bot -> BullMQ -> xmpp plugin, SQLite store',
    )
    const port = await freePort()
    // The same flags as `npm start`.
    const parley = spawn(
      process.execPath,
      ['--max-semi-space-size=32', '--import', 'tsx', 'core/main.ts'],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          ...xmppEnv('parley'),
          PARLEY_CONFIG: 'bench/echo/parley.config.ts',
          PORT: String(port),
          BENCH_SQLITE: join(dir, 'bench.sqlite'),
          BENCH_PREFIX: prefix,
          PARLEY_ADMIN_KEY: ADMIN_KEY,
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    )
    await waitOnline(port)
    results.parley = await measure('parley', user, prosody.jid('parley'), parley)
    await stopChild(parley)
  } finally {
    await user.stop()
    await prosody.stop()
    await deleteRedisPrefix(prefix)
    rmSync(dir, { recursive: true, force: true })
  }
  const { direct, parley } = results as { direct: Figures; parley: Figures }
  const windowRatio = round(parley.window.msgsPerSec / direct.window.msgsPerSec)
  const ppRatio = round(parley.pingpong.roundTripsPerSec / direct.pingpong.roundTripsPerSec)
  const rows = [
    ['', 'direct', 'parley', 'ratio'],
    [
      'ping-pong round trips/s',
      direct.pingpong.roundTripsPerSec,
      parley.pingpong.roundTripsPerSec,
      ppRatio,
    ],
    [
      'ping-pong p50 ms',
      direct.pingpong.p50,
      parley.pingpong.p50,
      `+${round(parley.pingpong.p50 - direct.pingpong.p50)} ms`,
    ],
    ['ping-pong p99 ms', direct.pingpong.p99, parley.pingpong.p99, ''],
    [`window ${WINDOW} msgs/s`, direct.window.msgsPerSec, parley.window.msgsPerSec, windowRatio],
    ['window p50 ms', direct.window.p50, parley.window.p50, ''],
    ['window p99 ms', direct.window.p99, parley.window.p99, ''],
    ['window unanswered', direct.window.lost, parley.window.lost, ''],
    ['bot process CPU s', direct.cpuSeconds ?? '?', parley.cpuSeconds ?? '?', ''],
  ]
  for (const row of rows)
    console.log(
      row
        .map((c, i) =>
          String(c)
            .padStart(i === 0 ? 0 : 12)
            .padEnd(i === 0 ? 26 : 0),
        )
        .join(''),
    )
  const file = writeResults('echo', {
    pingpong: PINGPONG,
    window: WINDOW,
    windowTotal: WINDOW_TOTAL,
    direct,
    parley,
    windowRatio,
    pingpongRatio: ppRatio,
  })
  console.log(`results: ${file}`)
  console.log(
    `echo window ratio: ${windowRatio} (parley ${parley.window.msgsPerSec}/s, direct ${direct.window.msgsPerSec}/s; ping-pong p50 +${round(parley.pingpong.p50 - direct.pingpong.p50)} ms)`,
  )
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench/echo failed: ${(err as Error).message}`)
    process.exit(1)
  },
)
