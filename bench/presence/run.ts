/**
 * bench/presence: presence in three parts, in one run, against one real
 * Prosody (throwaway) and the local Redis. Prints the figures and the
 * ratios; writes bench/results/presence-<time>.json; the last line is a
 * one-line summary. Not a test: it asserts nothing about speed.
 *
 * 1. REST: `GET /v1/presence/:address` on Parley (core/main.ts, xmpp plugin
 *    online, the address's presence fresh and 'available') against a bare
 *    Fastify route serving the same body from memory (bare-server.ts). Each
 *    server in its own process with the flags of `npm start`; autocannon in
 *    a third, 10 connections, BENCH_REST_SECONDS (10) each after a 3 s
 *    warm-up, in 5 slices each, interleaved (req/s: the median slice). The
 *    servers' CPU time per request is printed as a cross-check.
 * 2. Ingest: BENCH_USERS (50) Prosody users change <show/> and <status/>
 *    BENCH_CHANGES (200) times each, as fast as Prosody takes it. Both a raw
 *    @xmpp/client observer (raw-observer.ts, own process) and Parley are
 *    subscribed to every user. Raw rate: presence stanzas the observer got /
 *    time until it had every user's last one. Parley coalesces per address
 *    (latest wins), so it is measured by when the last state of every user
 *    is in the store (its change stream `<prefix>:presence:changes`, read
 *    here with XREAD): effective rate = changes sent / that time.
 * 3. Memory per contact at BENCH_CONTACTS (100,000): memory.ts, in its own
 *    process with --expose-gc, no Prosody (Redis used_memory + heapUsed).
 *
 * Every child process, Prosody and Redis prefix is removed at the end, also
 * on failure or Ctrl-C. BENCH_PARLEY_FLAGS adds node flags to the Parley
 * process only (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`); BENCH_LOG_LEVEL
 * (warn) is its log level.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Element, xml } from '@xmpp/client'
import { Redis } from 'ioredis'
import { generateKey } from '../../core/auth/keys.js'
import { deleteRedisPrefix, REDIS_URL } from '../../test/helpers/app.js'
import { freePort, type ProsodyPeer, startProsody } from '../../test/peers/prosody.js'
import { connectRawUser, type RawXmppUser } from '../../test/peers/raw-xmpp.js'
import type { MemoryFigures } from './memory.js'
import type { ObserverReport } from './raw-observer.js'

const ROOT = new URL('../../', import.meta.url).pathname
const USERS = Number(process.env.BENCH_USERS ?? 50)
const CHANGES = Number(process.env.BENCH_CHANGES ?? 200)
const REST_SECONDS = Number(process.env.BENCH_REST_SECONDS ?? 10)
const REST_WARMUP_SECONDS = 3
const REST_SLICES = 5
const CONNECTIONS = 10
const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 100_000)
const INGEST_TIMEOUT_MS = 90_000
/** The flags of `npm start`. */
const NODE_FLAGS = ['--max-semi-space-size=32', '--import', 'tsx']
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js')
/**
 * Parley's admin key (PARLEY_ADMIN_KEY): every request carries it, to the
 * bare server too (which ignores it), so both parse the same request.
 */
const ADMIN_KEY = generateKey().key
const AUTH = { authorization: `Bearer ${ADMIN_KEY}` }
/** One <show/> per change, in turn (undefined: none, i.e. available). */
const SHOWS = ['away', 'dnd', 'xa', 'chat', undefined] as const

interface RestFigures {
  reqPerSec: number
  p50: number
  p99: number
  requests: number
  non2xx: number
  errors: number
  /** The server process's CPU time per request, µs (measured run only). */
  cpuMicrosPerRequest?: number
}

interface IngestFigures {
  users: number
  changesSent: number
  sendSeconds: number
  raw: {
    received: number
    seconds: number | null
    /** When the first change arrived, after the first was sent. */
    firstSeconds: number | null
    /** Changes received per 100 ms since the first was sent. */
    receivedPer100ms: number[]
    perSec: number | null
    cpuSeconds?: number
  }
  parley: {
    /** Changes accepted into the store (stream entries): the rest were coalesced away. */
    landed: number
    seconds: number | null
    /** When the first change was in the store, after the first was sent. */
    firstSeconds: number | null
    /** Changes landed per 100 ms since the first was sent. */
    landedPer100ms: number[]
    landedPerSec: number | null
    effectivePerSec: number | null
    missing: number
    queryable: string
    cpuSeconds?: number
  }
  ratio: number | null
}

const now = () => performance.timeOrigin + performance.now()
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d
const median = (xs: number[]) => {
  const sorted = [...xs].sort((x, y) => x - y)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// ------------------------------------------------------------- child processes

const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})

interface Child {
  process: ChildProcess
  /** Last lines of its stdout and stderr, for diagnostics. */
  tail: string[]
}

function startNode(
  name: string,
  args: string[],
  env: Record<string, string>,
  options: { ipc?: boolean; echoStderr?: boolean } = {},
): Child {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  const tail: string[] = []
  const keep = (stream: 'out' | 'err') => (d: Buffer) => {
    for (const line of String(d).split('\n')) {
      if (line.trim() === '') continue
      tail.push(`${stream}: ${line}`)
      if (tail.length > 200) tail.shift()
      if (stream === 'err' && options.echoStderr !== false)
        process.stderr.write(`  [${name}] ${line}\n`)
    }
  }
  child.stdout?.on('data', keep('out'))
  child.stderr?.on('data', keep('err'))
  return { process: child, tail }
}

/** Resolves once a stdout line matches; rejects if the child exits first or after `timeoutMs`. */
function waitForLine(child: Child, match: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => done(new Error(`no line matching ${match} within ${timeoutMs} ms`)),
      timeoutMs,
    )
    const onData = (d: Buffer) => {
      for (const line of String(d).split('\n')) {
        const m = match.exec(line)
        if (m) return done(undefined, m)
      }
    }
    const onExit = (code: number | null) =>
      done(new Error(`exited with ${code}:\n${child.tail.slice(-20).join('\n')}`))
    const done = (err?: Error, m?: RegExpExecArray) => {
      clearTimeout(timer)
      child.process.stdout?.off('data', onData)
      child.process.off('exit', onExit)
      if (err) reject(err)
      else resolve(m as RegExpExecArray)
    }
    child.process.stdout?.on('data', onData)
    child.process.once('exit', onExit)
  })
}

async function stopChild(child: Child | undefined): Promise<void> {
  const p = child?.process
  if (!p || p.exitCode !== null || p.signalCode !== null) return
  const exited = new Promise((resolve) => p.once('exit', resolve))
  p.kill('SIGTERM')
  await Promise.race([exited, sleep(10_000)])
  if (p.exitCode === null && p.signalCode === null) {
    p.kill('SIGKILL')
    await exited
  }
}

/** CPU seconds (user+system) a child process has used, from /proc. */
function cpuOf(child: Child | undefined): number | undefined {
  try {
    const stat = readFileSync(`/proc/${child?.process.pid}/stat`, 'utf8')
    const fields = stat.split(') ')[1]?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

const cpuDelta = (before: number | undefined, after: number | undefined) =>
  before !== undefined && after !== undefined ? round(after - before) : undefined

// ------------------------------------------------------------------ 1. REST

async function getText(url: string): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(url, { headers: AUTH })
    return { status: res.status, body: await res.text() }
  } catch (err) {
    return { status: 0, body: `(${(err as Error).message})` }
  }
}

/** The response's header names, sorted: the two servers should answer alike. */
async function headerNames(url: string): Promise<string> {
  const res = await fetch(url, { headers: AUTH })
  await res.arrayBuffer()
  return [...res.headers.keys()].sort().join(',')
}

/** Runs autocannon in its own process; its --json result. */
async function cannon(url: string, seconds: number): Promise<RestFigures> {
  const child = startNode(
    'autocannon',
    [
      AUTOCANNON,
      '-c',
      String(CONNECTIONS),
      '-d',
      String(seconds),
      '-H',
      `authorization=${AUTH.authorization}`,
      '-n',
      '--json',
      url,
    ],
    {},
  )
  let out = ''
  child.process.stdout?.on('data', (d: Buffer) => {
    out += String(d)
  })
  const code = await new Promise<number | null>((resolve) => child.process.once('exit', resolve))
  const json = out.split('\n').find((line) => line.startsWith('{'))
  if (code !== 0 || !json)
    throw new Error(`autocannon exited with ${code}: ${child.tail.join('\n')}`)
  const r = JSON.parse(json) as {
    requests: { average: number; total: number }
    latency: { p50: number; p99: number }
    duration: number
    non2xx: number
    errors: number
  }
  return {
    reqPerSec: round(r.requests.total / r.duration, 0),
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors,
  }
}

interface Target {
  name: string
  url: string
  server: Child
}

/**
 * Warms each target up, then measures them in slices ordered A B B A A B ...
 * (REST_SLICES per target, REST_SECONDS in all per target), so that drifting
 * or bursty background load weighs on both alike. req/s is the median of a
 * target's slices, p50 their mean, p99 the worst; CPU per request is over
 * all its slices.
 */
async function measureRest(a: Target, b: Target): Promise<[RestFigures, RestFigures]> {
  for (const t of [a, b]) await cannon(t.url, REST_WARMUP_SECONDS)
  const slice = Math.max(1, Math.round(REST_SECONDS / REST_SLICES))
  const slices = new Map<Target, { figures: RestFigures; cpu?: number }[]>([
    [a, []],
    [b, []],
  ])
  const order = Array.from({ length: REST_SLICES }, (_, i) =>
    i % 2 === 0 ? [a, b] : [b, a],
  ).flat()
  for (const t of order) {
    const cpuBefore = cpuOf(t.server)
    const figures = await cannon(t.url, slice)
    const cpu = cpuDelta(cpuBefore, cpuOf(t.server))
    slices.get(t)?.push(cpu === undefined ? { figures } : { figures, cpu })
  }
  const combine = (t: Target): RestFigures => {
    const parts = slices.get(t) ?? []
    const requests = parts.reduce((sum, p) => sum + p.figures.requests, 0)
    const cpu = parts.every((p) => p.cpu !== undefined)
      ? parts.reduce((sum, p) => sum + (p.cpu ?? 0), 0)
      : undefined
    const figures: RestFigures = {
      reqPerSec: median(parts.map((p) => p.figures.reqPerSec)),
      p50: round(parts.reduce((sum, p) => sum + p.figures.p50, 0) / parts.length),
      p99: Math.max(...parts.map((p) => p.figures.p99)),
      requests,
      non2xx: parts.reduce((sum, p) => sum + p.figures.non2xx, 0),
      errors: parts.reduce((sum, p) => sum + p.figures.errors, 0),
      ...(cpu !== undefined && { cpuMicrosPerRequest: round((cpu * 1e6) / requests, 1) }),
    }
    console.log(
      `  ${t.name}: ${figures.reqPerSec} req/s, p50 ${figures.p50} ms, p99 ${figures.p99} ms` +
        ` (${requests} requests, ${figures.non2xx} non-2xx, ${figures.errors} errors;` +
        ` server CPU ${figures.cpuMicrosPerRequest ?? '?'} µs/request;` +
        ` slices ${parts.map((p) => p.figures.reqPerSec).join(', ')} req/s)`,
    )
    if (figures.non2xx > 0 || figures.errors > 0)
      throw new Error(`${t.name}: failed requests under load`)
    return figures
  }
  return [combine(a), combine(b)]
}

// --------------------------------------------------------------- XMPP set-up

async function connectAll(prosody: ProsodyPeer, names: string[]): Promise<RawXmppUser[]> {
  const users: RawXmppUser[] = []
  for (let i = 0; i < names.length; i += 10) {
    users.push(
      ...(await Promise.all(
        names
          .slice(i, i + 10)
          .map((name) => connectRawUser(prosody, name, 'pw', { resource: 'bench' })),
      )),
    )
  }
  return users
}

/**
 * Subscribes each watcher to every user (RFC 6121 §3.1): the watcher sends
 * `subscribe`, the user answers `subscribed`. Resolves once the watcher's
 * roster shows `to` (or `both`) for every user.
 */
async function subscribeAll(
  prosody: ProsodyPeer,
  watchers: string[],
  users: RawXmppUser[],
): Promise<void> {
  for (const user of users) {
    user.client.on('stanza', (stanza: Element) => {
      if (stanza.name !== 'presence' || stanza.attrs.type !== 'subscribe') return
      const from = String(stanza.attrs.from).split('/')[0] as string
      void user.send(xml('presence', { type: 'subscribed', to: from })).catch(() => {})
    })
  }
  const wanted = new Set(users.map((u) => u.bare))
  for (const name of watchers) {
    const watcher = await connectRawUser(prosody, name, 'pw', { resource: 'setup' })
    try {
      for (const user of users)
        await watcher.send(xml('presence', { type: 'subscribe', to: user.bare }))
      const deadline = Date.now() + 30_000
      for (;;) {
        const query = await watcher.client.iqCaller.get(xml('query', { xmlns: 'jabber:iq:roster' }))
        const subscribed = (query?.getChildren('item') ?? []).filter(
          (item: Element) =>
            wanted.has(String(item.attrs.jid)) &&
            (item.attrs.subscription === 'to' || item.attrs.subscription === 'both'),
        ).length
        if (subscribed === wanted.size) break
        if (Date.now() > deadline)
          throw new Error(`${name}: roster shows ${subscribed} of ${wanted.size} subscriptions`)
        await sleep(100)
      }
    } finally {
      await watcher.stop()
    }
  }
}

// ---------------------------------------------------------------- 2. ingest

/** Follows a Redis stream from `fromId` with XREAD BLOCK; calls `onEntry` per entry. */
function followStream(
  key: string,
  fromId: string,
  onEntry: (fields: Record<string, string>, at: number) => void,
): { stop(): Promise<void> } {
  const reader = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
  let running = true
  let lastId = fromId
  const loop = (async () => {
    while (running) {
      const result = (await reader.xread('COUNT', 1000, 'BLOCK', 500, 'STREAMS', key, lastId)) as
        | [string, [string, string[]][]][]
        | null
      const at = now()
      for (const [, rows] of result ?? []) {
        for (const [id, list] of rows) {
          lastId = id
          const fields: Record<string, string> = {}
          for (let i = 0; i < list.length; i += 2) fields[list[i] as string] = list[i + 1] as string
          onEntry(fields, at)
        }
      }
    }
  })()
  return {
    async stop() {
      running = false
      reader.disconnect()
      await loop.catch(() => undefined)
    },
  }
}

function ipcRequest<T>(
  child: Child,
  message: object,
  reply: string,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.process.off('message', onMessage)
      reject(new Error(`no '${reply}' from the observer within ${timeoutMs} ms`))
    }, timeoutMs)
    const onMessage = (m: { type: string }) => {
      if (m.type !== reply) return
      clearTimeout(timer)
      child.process.off('message', onMessage)
      resolve(m as T)
    }
    child.process.on('message', onMessage)
    child.process.send(message)
  })
}

/** How many of `times` fall in each 100 ms from `t0`. */
function timeline(times: number[], t0: number): number[] {
  const buckets: number[] = []
  for (const at of times) {
    const i = Math.max(0, Math.floor((at - t0) / 100))
    while (buckets.length <= i) buckets.push(0)
    buckets[i] = (buckets[i] ?? 0) + 1
  }
  return buckets
}

async function measureIngest(
  port: number,
  prefix: string,
  users: RawXmppUser[],
  observer: Child,
  parley: Child,
): Promise<IngestFigures> {
  const statusOf = (k: number, i: number) => `#${i} of u${k}`
  const finals: Record<string, string> = {}
  for (const [k, user] of users.entries()) finals[user.bare] = statusOf(k, CHANGES - 1)
  const finalByAddress = new Map(Object.entries(finals).map(([bare, s]) => [`xmpp:${bare}`, s]))

  // Parley: every accepted change is one entry in its change stream (XADD and HSET in one script).
  const redis = new Redis(REDIS_URL)
  const streamKey = `${prefix}:presence:changes`
  const last = await redis.xrevrange(streamKey, '+', '-', 'COUNT', 1)
  redis.disconnect()
  let landed = 0
  const landedTimes: number[] = []
  let landedAt: number | null = null
  const missing = new Set(finalByAddress.keys())
  let allLanded: () => void = () => {}
  const parleyDone = new Promise<void>((resolve) => {
    allLanded = resolve
  })
  const follower = followStream(streamKey, last[0]?.[0] ?? '0-0', (fields, at) => {
    const address = fields.p as string
    if (!finalByAddress.has(address)) return
    landed++
    landedTimes.push(at)
    if (!missing.has(address)) return
    const status = (JSON.parse(fields.d ?? '{}') as { s?: string }).s
    if (status === finalByAddress.get(address)) {
      missing.delete(address)
      if (missing.size === 0) {
        landedAt = at
        allLanded()
      }
    }
  })

  let observed: ObserverReport | undefined
  const observerDone = new Promise<ObserverReport>((resolve) => {
    observer.process.on('message', (m: { type: string } & ObserverReport) => {
      if (m.type === 'complete') resolve(m)
    })
  })
  await ipcRequest(observer, { type: 'start', finals }, 'started', 10_000)
  const parleyCpu = cpuOf(parley)
  const observerCpu = cpuOf(observer)

  const t0 = now()
  await Promise.all(
    users.map(async (user, k) => {
      for (let i = 0; i < CHANGES; i++) {
        const show = SHOWS[i % SHOWS.length]
        await user.send(
          xml(
            'presence',
            {},
            ...(show ? [xml('show', {}, show)] : []),
            xml('status', {}, statusOf(k, i)),
          ),
        )
      }
    }),
  )
  const sendSeconds = (now() - t0) / 1000
  const sent = USERS * CHANGES
  console.log(`  sent ${sent} presence changes in ${round(sendSeconds)} s`)

  const timeout = sleep(INGEST_TIMEOUT_MS)
  await Promise.race([Promise.all([parleyDone, observerDone.then((r) => (observed = r))]), timeout])
  observed ??= await ipcRequest<ObserverReport>(observer, { type: 'report' }, 'report', 5000).catch(
    () => undefined,
  )
  const parleyCpuAfter = cpuOf(parley)
  const observerCpuAfter = cpuOf(observer)
  await follower.stop()

  // Queryable through the API, not only in Redis.
  const addresses = [...finalByAddress.keys()]
  let queryable = 'not checked'
  try {
    const res = await fetch(`http://127.0.0.1:${port}/v1/presence/query`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ addresses }),
    })
    const { presence } = (await res.json()) as { presence: { address: string; status?: string }[] }
    const ok = presence.filter((p) => p.status === finalByAddress.get(p.address)).length
    queryable = `${ok}/${addresses.length}`
  } catch (err) {
    queryable = `query failed: ${(err as Error).message}`
  }

  const rawSeconds = observed?.completeAt ? (observed.completeAt - t0) / 1000 : null
  const parleySeconds = landedAt !== null ? (landedAt - t0) / 1000 : null
  const rawPerSec = rawSeconds && observed ? observed.count / rawSeconds : null
  const effective = parleySeconds ? sent / parleySeconds : null
  if (missing.size > 0) {
    const sample = [...missing].slice(0, 3)
    const hash = new Redis(REDIS_URL)
    const values = await hash.hmget(`${prefix}:presence:current`, ...sample)
    hash.disconnect()
    console.log(
      `  parley: final state of ${missing.size} users not in the store after ${INGEST_TIMEOUT_MS / 1000} s; e.g. ` +
        sample.map((a, i) => `${a} = ${values[i] ?? '(nothing)'}`).join('; '),
    )
    console.log(parley.tail.slice(-20).join('\n'))
  }
  return {
    users: USERS,
    changesSent: sent,
    sendSeconds: round(sendSeconds),
    raw: {
      received: observed?.count ?? 0,
      seconds: rawSeconds === null ? null : round(rawSeconds, 3),
      firstSeconds: observed?.firstAt ? round((observed.firstAt - t0) / 1000, 3) : null,
      receivedPer100ms: timeline(observed?.times ?? [], t0),
      perSec: rawPerSec === null ? null : round(rawPerSec, 0),
      ...(cpuDelta(observerCpu, observerCpuAfter) !== undefined && {
        cpuSeconds: cpuDelta(observerCpu, observerCpuAfter),
      }),
    },
    parley: {
      landed,
      seconds: parleySeconds === null ? null : round(parleySeconds, 3),
      firstSeconds: landedTimes.length ? round(((landedTimes[0] as number) - t0) / 1000, 3) : null,
      landedPer100ms: timeline(landedTimes, t0),
      landedPerSec: parleySeconds ? round(landed / parleySeconds, 0) : null,
      effectivePerSec: effective === null ? null : round(effective, 0),
      missing: missing.size,
      queryable,
      ...(cpuDelta(parleyCpu, parleyCpuAfter) !== undefined && {
        cpuSeconds: cpuDelta(parleyCpu, parleyCpuAfter),
      }),
    },
    ratio: effective && rawPerSec ? round(effective / rawPerSec) : null,
  }
}

// ---------------------------------------------------------------- 3. memory

async function measureMemory(prefix: string): Promise<MemoryFigures> {
  const child = startNode('memory', ['--expose-gc', ...NODE_FLAGS, 'bench/presence/memory.ts'], {
    BENCH_MEM_PREFIX: prefix,
    BENCH_CONTACTS: String(CONTACTS),
  })
  child.process.stdout?.on('data', (d: Buffer) => {
    for (const line of String(d).split('\n')) if (line.startsWith('  ')) console.log(line)
  })
  const [, json] = await waitForLine(child, /^RESULT (.*)$/, 120_000)
  await stopChild(child)
  return JSON.parse(json as string) as MemoryFigures
}

// ------------------------------------------------------------------- main

async function waitOnline(port: number, parley: Child): Promise<void> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (parley.process.exitCode !== null) throw new Error('parley exited')
    const res = await getText(`http://127.0.0.1:${port}/v1/networks/xmpp`)
    if (res.status === 200 && (JSON.parse(res.body) as { status?: string }).status === 'online')
      return
    await sleep(100)
  }
  throw new Error('parley did not come online')
}

async function diagnose(port: number, parley: Child, presenceUrl: string): Promise<string> {
  const presence = await getText(presenceUrl)
  const networks = await getText(`http://127.0.0.1:${port}/v1/networks`)
  return [
    `GET ${presenceUrl} -> ${presence.status} ${presence.body}`,
    `GET /v1/networks -> ${networks.status} ${networks.body}`,
    `parley exit code: ${parley.process.exitCode ?? 'running'}; output tail:`,
    ...parley.tail.slice(-40),
  ].join('\n')
}

async function main(): Promise<void> {
  const load = loadavg().map((x) => round(x))
  console.log(
    `bench/presence: rest ${CONNECTIONS} connections ${REST_SECONDS} s (after ${REST_WARMUP_SECONDS} s warm-up); ` +
      `ingest ${USERS} users x ${CHANGES} changes; memory ${CONTACTS} contacts (load average ${load.join(' ')})`,
  )
  const dir = mkdtempSync(join(tmpdir(), 'parley-bench-presence-'))
  const prefix = `bench-presence-${process.pid}`
  const memPrefix = `${prefix}-mem`
  let prosody: ProsodyPeer | undefined
  let users: RawXmppUser[] = []
  let parley: Child | undefined
  let bare: Child | undefined
  let observer: Child | undefined
  // One cleanup, whoever asks first (the end of the run or a signal); later callers wait for it.
  let cleaning: Promise<void> | undefined
  const cleanup = () => {
    cleaning ??= (async () => {
      await Promise.all([stopChild(parley), stopChild(bare), stopChild(observer)])
      for (const child of children) child.kill('SIGKILL')
      await Promise.all(users.map((u) => u.stop().catch(() => undefined)))
      await prosody?.stop()
      await deleteRedisPrefix(prefix).catch(() => undefined)
      await deleteRedisPrefix(memPrefix).catch(() => undefined)
      rmSync(dir, { recursive: true, force: true })
    })()
    return cleaning
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`bench/presence: ${signal}, cleaning up`)
      void cleanup().finally(() => process.exit(130))
    })
  }

  let rest:
    | { parley: RestFigures; bare: RestFigures; ratio: number; cpuRatio?: number; body: string }
    | undefined
  let ingest: IngestFigures | undefined
  let memory: MemoryFigures | undefined
  try {
    const names = Array.from({ length: USERS }, (_, k) => `u${k}`)
    let started = now()
    prosody = await startProsody({
      users: ['parley', 'raw', ...names].map((username) => ({ username, password: 'pw' })),
    })
    users = await connectAll(prosody, names)
    await subscribeAll(prosody, ['parley', 'raw'], users)
    console.log(
      `set-up: prosody, ${USERS + 2} accounts, parley and raw subscribed to ${USERS} users (${round((now() - started) / 1000, 1)} s)`,
    )
    const xmppEnv = (username: string) => ({
      XMPP_SERVICE: (prosody as ProsodyPeer).service,
      XMPP_DOMAIN: (prosody as ProsodyPeer).domain,
      XMPP_USERNAME: username,
      XMPP_PASSWORD: 'pw',
    })
    observer = startNode(
      'raw-observer',
      ['--import', 'tsx', 'bench/presence/raw-observer.ts'],
      xmppEnv('raw'),
      {
        ipc: true,
      },
    )
    await waitForLine(observer, /^ready$/)

    started = now()
    const port = await freePort()
    const extraFlags = (process.env.BENCH_PARLEY_FLAGS ?? '').split(' ').filter(Boolean)
    parley = startNode('parley', [...NODE_FLAGS, ...extraFlags, 'core/main.ts'], {
      ...xmppEnv('parley'),
      PARLEY_CONFIG: 'bench/presence/parley.config.ts',
      PORT: String(port),
      BENCH_SQLITE: join(dir, 'bench.sqlite'),
      BENCH_PREFIX: prefix,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      PARLEY_ADMIN_KEY: ADMIN_KEY,
    })
    const presenceUrl = `http://127.0.0.1:${port}/v1/presence/xmpp:${users[0]?.bare}`
    try {
      await waitOnline(port, parley)
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await diagnose(port, parley, presenceUrl)}`)
    }
    // The users announced themselves before Parley logged in: its initial presence makes Prosody send theirs.
    let body = ''
    const deadline = Date.now() + 15_000
    for (;;) {
      const res = await getText(presenceUrl)
      body = res.body
      if (
        res.status === 200 &&
        (JSON.parse(body) as { availability?: string }).availability === 'available'
      )
        break
      if (Date.now() > deadline)
        throw new Error(
          `presence of ${users[0]?.bare} is not 'available' 15 s after parley came online\n${await diagnose(port, parley, presenceUrl)}`,
        )
      await sleep(100)
    }
    console.log(
      `parley online (${round((now() - started) / 1000, 1)} s); GET ${presenceUrl.replace(/^http:\/\/[^/]+/, '')} -> ${body}`,
    )

    console.log(
      `1. REST: GET /v1/presence/:address, autocannon -c ${CONNECTIONS}, ${REST_SECONDS} s each in ${REST_SLICES} interleaved slices`,
    )
    bare = startNode('bare', [...NODE_FLAGS, 'bench/presence/bare-server.ts'], { BENCH_BODY: body })
    const [, barePort] = await waitForLine(bare, /^ready (\d+)$/)
    const bareUrl = `http://127.0.0.1:${barePort}/v1/presence/xmpp:${users[0]?.bare}`
    const bareBody = await getText(bareUrl)
    if (bareBody.body !== body) throw new Error(`bare route body differs: ${bareBody.body}`)
    const [parleyHeaders, bareHeaders] = await Promise.all([
      headerNames(presenceUrl),
      headerNames(bareUrl),
    ])
    if (parleyHeaders !== bareHeaders)
      console.log(`  note: response headers differ: parley ${parleyHeaders}; bare ${bareHeaders}`)
    const [parleyRest, bareRest] = await measureRest(
      { name: 'parley', url: presenceUrl, server: parley },
      { name: 'bare', url: bareUrl, server: bare },
    )
    await stopChild(bare)
    rest = {
      parley: parleyRest,
      bare: bareRest,
      ratio: round(parleyRest.reqPerSec / bareRest.reqPerSec),
      ...(parleyRest.cpuMicrosPerRequest &&
        bareRest.cpuMicrosPerRequest && {
          cpuRatio: round(bareRest.cpuMicrosPerRequest / parleyRest.cpuMicrosPerRequest),
        }),
      body,
    }

    console.log(`2. ingest: ${USERS} users x ${CHANGES} presence changes through Prosody`)
    ingest = await measureIngest(port, prefix, users, observer, parley)
    console.log(
      `  raw observer: ${ingest.raw.received} presence stanzas in ${ingest.raw.seconds} s = ${ingest.raw.perSec}/s (first after ${ingest.raw.firstSeconds} s)`,
    )
    console.log(
      `  parley: final state of all ${USERS} users in the store after ${ingest.parley.seconds} s; ` +
        `${ingest.parley.landed} changes landed (${ingest.parley.landedPerSec}/s, the rest coalesced), ` +
        `effective ${ingest.parley.effectivePerSec}/s; first landed after ${ingest.parley.firstSeconds} s; queryable via REST ${ingest.parley.queryable}`,
    )
    await stopChild(parley)
    await stopChild(observer)
    await Promise.all(users.map((u) => u.stop()))
    users = []
    await prosody.stop()

    console.log(
      `3. memory: ${CONTACTS} contacts through LivePresenceStore (own process, --expose-gc)`,
    )
    memory = await measureMemory(memPrefix)
    console.log(
      `  redis used_memory +${memory.redisUsedBytes} B (hash ${memory.redisKeyBytes.hash} B + stream of ${memory.streamEntries} entries ${memory.redisKeyBytes.stream} B by MEMORY USAGE); ` +
        `heapUsed +${memory.heapBytes} B; rss +${memory.rssBytes} B`,
    )
    console.log(
      `  per contact: redis ${memory.perContact.redis} B (keys alone ${memory.perContact.redisKeys} B), process ${memory.perContact.process} B, total ${memory.perContact.total} B`,
    )
  } finally {
    await cleanup()
  }

  const r = rest as NonNullable<typeof rest>
  const i = ingest as IngestFigures
  const m = memory as MemoryFigures
  const rows: (string | number | null)[][] = [
    ['', 'parley', 'baseline', 'ratio', 'target'],
    ['REST req/s', r.parley.reqPerSec, r.bare.reqPerSec, r.ratio, '>= 0.75'],
    ['REST p99 ms', r.parley.p99, r.bare.p99, '', ''],
    [
      'REST CPU µs/req',
      r.parley.cpuMicrosPerRequest ?? '?',
      r.bare.cpuMicrosPerRequest ?? '?',
      r.cpuRatio ?? '',
      '',
    ],
    ['ingest changes/s', i.parley.effectivePerSec, i.raw.perSec, i.ratio, '>= 0.8'],
    ['ingest seconds', i.parley.seconds, i.raw.seconds, '', ''],
    ['ingest CPU s', i.parley.cpuSeconds ?? '?', i.raw.cpuSeconds ?? '?', '', ''],
    ['memory B/contact', m.perContact.total, '', '', '<= 1024'],
  ]
  for (const row of rows)
    console.log(
      row
        .map((c, k) =>
          String(c ?? '-')
            .padStart(k === 0 ? 0 : 12)
            .padEnd(k === 0 ? 20 : 0),
        )
        .join(''),
    )
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true })
  const at = new Date().toISOString()
  const file = join(ROOT, 'bench/results', `presence-${at.replace(/[:.]/g, '-')}.json`)
  writeFileSync(
    file,
    `${JSON.stringify({ at, loadAverageAtStart: load, connections: CONNECTIONS, restSeconds: REST_SECONDS, restSlices: REST_SLICES, rest, ingest, memory }, null, 2)}\n`,
  )
  console.log(`results: ${file.slice(ROOT.length)}`)
  console.log(
    `presence: rest ${r.ratio.toFixed(2)}x (parley ${r.parley.reqPerSec}/s p99 ${r.parley.p99} ms, bare ${r.bare.reqPerSec}/s p99 ${r.bare.p99} ms; CPU/request ${r.cpuRatio?.toFixed(2) ?? '?'}x), ` +
      `ingest ${i.ratio === null ? 'incomplete ' : i.ratio.toFixed(2)}x (parley ${i.parley.effectivePerSec ?? '-'}/s effective, raw ${i.raw.perSec ?? '-'}/s), ` +
      `memory ${m.perContact.total} B/contact (redis ${m.perContact.redis} + process ${m.perContact.process})`,
  )
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench/presence failed: ${(err as Error).message}`)
    process.exit(1)
  },
)
