/**
 * bench/scale: bot echo throughput with one host process, then two, on the
 * same real Prosody, Redis and PostgreSQL, in one run. The two processes
 * share the Redis prefix and the database: one owns the XMPP connection
 * (its lease), both run inbound and bot work from BullMQ.
 *
 * Several XMPP users each keep a window of messages outstanding. Printed
 * per setup: answered messages/s, p50/p99 latency, and the CPU each process
 * used (host processes, redis-server, postgres, prosody, this driver), as
 * seconds and as a share of the run's wall time, so the bottleneck shows.
 * The ratio is two processes' throughput over one's. Writes
 * bench/results/scale-<time>.json; the last line is a one-line summary.
 * Not a test: it asserts nothing about speed.
 *
 * BENCH_SCALE_TOTAL (12000), BENCH_SCALE_USERS (8) and BENCH_SCALE_WINDOW
 * (per user, 16) scale it.
 */
import { randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import type { ParleyConfigInput } from '../../core/config/schema.js'
import { xmppDomainPolicy } from '../../core/policy/presets.js'
import { deleteRedisPrefix, REDIS_URL } from '../../test/helpers/app.js'
import { type HostProcess, startHost } from '../../test/helpers/host-process.js'
import { connectUser, type XmppUser } from '../../test/helpers/xmpp-user.js'
import { startProsody } from '../../test/peers/prosody.js'
import { dropSchema, PG_TEST_URL, uniqueSchemaName } from '../../test/store/fixtures/backends.js'
import { percentile, round, writeResults } from '../lib/figures.js'

const TOTAL = Number(process.env.BENCH_SCALE_TOTAL ?? 12000)
const USERS = Number(process.env.BENCH_SCALE_USERS ?? 8)
const WINDOW = Number(process.env.BENCH_SCALE_WINDOW ?? 16)
const WARMUP = 400

/** CPU seconds used so far, by every process whose command name is one of these. */
const WATCHED = ['redis-server', 'postgres', 'lua5.4', 'lua5.3', 'lua5.2', 'lua5.1', 'prosody']

interface CpuSample {
  at: number
  byPid: Map<number, { name: string; seconds: number }>
}

function sampleCpu(): CpuSample {
  const byPid = new Map<number, { name: string; seconds: number }>()
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      byPid.set(pid, { name, seconds: (Number(fields[11]) + Number(fields[12])) / 100 })
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return { at: performance.now(), byPid }
}

/** CPU used between two samples, grouped: each host process by name, the rest by program. */
function cpuBetween(before: CpuSample, after: CpuSample, hosts: HostProcess[]) {
  const wall = (after.at - before.at) / 1000
  const groups = new Map<string, number>()
  const add = (group: string, seconds: number) =>
    groups.set(group, (groups.get(group) ?? 0) + seconds)
  for (const [pid, { name, seconds }] of after.byPid) {
    const used = seconds - (before.byPid.get(pid)?.seconds ?? 0)
    const host = hosts.find((h) => h.pid === pid)
    if (host) add(`host ${host.instanceId}`, used)
    else if (pid === process.pid) add('driver (users)', used)
    else if (name === 'redis-server') add('redis', used)
    else if (name === 'postgres') add('postgres', used)
    else if (WATCHED.includes(name)) add('prosody', used)
  }
  return {
    wallSeconds: round(wall),
    cpu: Object.fromEntries(
      [...groups].map(([group, seconds]) => [
        group,
        { seconds: round(seconds), busy: round(seconds / wall) },
      ]),
    ),
  }
}

/** Every user keeps `window` messages to the bot outstanding until `total` are answered in all. */
async function load(users: XmppUser[], bot: string, total: number, window: number, tag: string) {
  const latencies: number[] = []
  let sent = 0
  let answered = 0
  let done: () => void = () => {}
  const finished = new Promise<void>((resolve) => {
    done = resolve
  })
  const start = performance.now()
  for (const [u, user] of users.entries()) {
    const outstanding = new Map<string, number>()
    const next = () => {
      if (sent >= total) return
      const body = `${tag}-${u}-${sent++}`
      outstanding.set(body, performance.now())
      void user.send(bot, body)
    }
    user.onMessage((m) => {
      const body = m.body.replace(/^echo: /, '')
      const at = outstanding.get(body)
      if (at === undefined) return
      outstanding.delete(body)
      latencies.push(m.at - at)
      answered++
      if (answered >= total) done()
      else next()
    })
    for (let i = 0; i < window; i++) next()
  }
  const timer = setTimeout(done, 180_000)
  await finished
  clearTimeout(timer)
  const seconds = (performance.now() - start) / 1000
  const sorted = latencies.sort((a, b) => a - b)
  return {
    answered,
    unanswered: total - answered,
    msgsPerSec: round(answered / seconds, 0),
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
  }
}

async function setup(processes: number, prosody: Awaited<ReturnType<typeof startProsody>>) {
  const prefix = `bench-scale-${randomUUID().slice(0, 8)}`
  const schema = uniqueSchemaName()
  const config: ParleyConfigInput = {
    redis: { url: REDIS_URL, prefix },
    database: { url: PG_TEST_URL, schema },
    queues: { keepCompletedSeconds: 0 },
    policy: xmppDomainPolicy(prosody.domain),
    federation: { senderLimit: { points: 1_000_000_000, windowSeconds: 1 } },
    security: { rateLimit: { max: 1_000_000_000 } },
    plugins: [
      {
        name: 'xmpp',
        options: {
          service: prosody.service,
          domain: prosody.domain,
          username: 'parley',
          password: 'pw',
        },
      },
    ],
    bots: [{ name: 'echo', identities: [`xmpp:${prosody.jid('parley')}`] }],
  } as ParleyConfigInput
  const hosts: HostProcess[] = []
  const first = await startHost(undefined, { name: 'p1', config })
  hosts.push(first)
  await first.waitForNetwork('xmpp', ['online'])
  for (let i = 2; i <= processes; i++)
    hosts.push(
      await startHost(undefined, {
        name: `p${i}`,
        config: { ...config, security: { ...config.security, adminKey: first.adminKey } },
      }),
    )
  const cleanup = async () => {
    await Promise.all(hosts.map((h) => h.stop()))
    await deleteRedisPrefix(prefix)
    await dropSchema(schema)
  }
  return { hosts, cleanup }
}

async function measure(
  processes: number,
  prosody: Awaited<ReturnType<typeof startProsody>>,
  users: XmppUser[],
) {
  const { hosts, cleanup } = await setup(processes, prosody)
  try {
    const bot = prosody.jid('parley')
    await load(users, bot, WARMUP, Math.min(WINDOW, 4), `warm${processes}`)
    const before = sampleCpu()
    const figures = await load(users, bot, TOTAL, WINDOW, `run${processes}`)
    const usage = cpuBetween(before, sampleCpu(), hosts)
    return { processes, ...figures, ...usage }
  } finally {
    await cleanup()
  }
}

function describe(r: Awaited<ReturnType<typeof measure>>): string {
  const cpu = Object.entries(r.cpu)
    .sort(([, a], [, b]) => b.busy - a.busy)
    .map(([group, { busy }]) => `${group} ${Math.round(busy * 100)}%`)
    .join(', ')
  return `${r.msgsPerSec} msg/s (p50 ${r.p50} ms, p99 ${r.p99} ms, unanswered ${r.unanswered}); CPU busy: ${cpu}`
}

async function main(): Promise<void> {
  console.log(
    `bench/scale: ${TOTAL} messages from ${USERS} users (window ${WINDOW} each) to the echo bot, 1 then 2 host processes; PostgreSQL, Redis, Prosody shared`,
  )
  const prosody = await startProsody({
    users: [
      { username: 'parley', password: 'pw' },
      ...Array.from({ length: USERS }, (_, i) => ({ username: `u${i}`, password: 'pw' })),
    ],
  })
  const users: XmppUser[] = []
  try {
    for (let i = 0; i < USERS; i++)
      users.push(
        await connectUser({
          service: prosody.service,
          domain: prosody.domain,
          username: `u${i}`,
          password: 'pw',
        }),
      )
    const one = await measure(1, prosody, users)
    console.log(`(1 process)   ${describe(one)}`)
    const two = await measure(2, prosody, users)
    console.log(`(2 processes) ${describe(two)}`)
    const ratio = round(two.msgsPerSec / one.msgsPerSec)
    const file = writeResults('scale', {
      total: TOTAL,
      users: USERS,
      window: WINDOW,
      one,
      two,
      ratio,
    })
    console.log(`results: ${file}`)
    const busiest = (r: typeof one) =>
      Object.entries(r.cpu)
        .sort(([, a], [, b]) => b.busy - a.busy)
        .slice(0, 3)
        .map(([group, { busy }]) => `${group} ${Math.round(busy * 100)}%`)
        .join(', ')
    console.log(
      `scale: 2 processes ${ratio}x of 1 (${two.msgsPerSec} vs ${one.msgsPerSec} msg/s); busiest with 2: ${busiest(two)}; with 1: ${busiest(one)}`,
    )
  } finally {
    await Promise.all(users.map((u) => u.stop()))
    await prosody.stop()
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench/scale failed: ${(err as Error).message}`)
    process.exit(1)
  },
)
