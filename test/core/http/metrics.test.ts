import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { fakePlugin, testApp, waitFor } from '../../helpers/app.js'
import { fakeConnections } from '../../helpers/fake-network/index.js'

type App = Awaited<ReturnType<typeof testApp>>

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

interface Exposition {
  types: Map<string, string>
  samples: Sample[]
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const LABEL = `([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"`
const SAMPLE = new RegExp(
  `^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*,?)?\\})? (\\S+)(?: (-?\\d+))?$`,
)
/** Prometheus reads values with Go's ParseFloat: NaN and Inf in any case (prom-client writes `Nan`). */
const VALUE =
  /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]?inf(?:inity)?|nan)$/i

/**
 * A strict reader of the Prometheus text exposition format 0.0.4: every line
 * a HELP, a TYPE or a sample; a sample only after its family's TYPE; one TYPE
 * per family. Throws on the first line that breaks a rule.
 */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>()
  const samples: Sample[] = []
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline')
  for (const [i, line] of text.slice(0, -1).split('\n').entries()) {
    if (line === '') continue
    const comment = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
    if (comment) {
      const [, kind, name, rest] = comment as unknown as [string, string, string, string]
      if (!new RegExp(`^${NAME}$`).test(name)) throw new Error(`line ${i + 1}: bad name ${name}`)
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest))
          throw new Error(`line ${i + 1}: unknown type ${rest}`)
        if (types.has(name)) throw new Error(`line ${i + 1}: second TYPE for ${name}`)
        types.set(name, rest)
      }
      continue
    }
    if (line.startsWith('#')) continue
    const match = SAMPLE.exec(line)
    if (!match) throw new Error(`line ${i + 1} is not a sample: ${line}`)
    const name = match[1] as string
    const rawValue = match.at(-2) as string
    if (!VALUE.test(rawValue)) throw new Error(`line ${i + 1}: bad value ${rawValue}`)
    const family = [...types.keys()].find(
      (f) => name === f || ['_bucket', '_sum', '_count'].some((s) => name === `${f}${s}`),
    )
    if (!family) throw new Error(`line ${i + 1}: ${name} has no TYPE before it`)
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(new RegExp(LABEL, 'g'))) {
      labels[key as string] = value as string
    }
    samples.push({ name, labels, value: toNumber(rawValue) })
  }
  return { types, samples }
}

function toNumber(raw: string): number {
  if (/^nan$/i.test(raw)) return Number.NaN
  const inf = /^([+-]?)inf(?:inity)?$/i.exec(raw)
  if (inf) return inf[1] === '-' ? -Infinity : Infinity
  return Number(raw)
}

async function scrape(app: App, headers: Record<string, string | undefined> = {}) {
  const res = await app.inject({ method: 'GET', url: '/metrics', headers })
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}: ${res.body}`)
  return parseExposition(res.body)
}

/** The value of the one sample with this name and these labels (at least), else undefined. */
function sampleValue(
  { samples }: Exposition,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match`)
  return found[0]?.value
}

async function fakeHost(t: Test, options: Record<string, unknown> = {}) {
  const key = randomUUID()
  const app = await testApp(t, {
    plugins: [fakePlugin(key, options)],
    bots: [{ name: 'echo', identities: ['fake:bot@fake.test'] }],
  })
  const fake = fakeConnections.get(key)
  if (!fake) throw new Error('fake network not created')
  return { app, fake }
}

async function sendMessage(app: App, text: string): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/messages',
    payload: { to: 'fake:carol@fake.test', text },
  })
  if (res.statusCode !== 202) throw new Error(`POST /v1/messages answered ${res.statusCode}`)
  return res.json().id
}

const outbound = { queue: 'outbound-fake', network: 'fake' }

t.test('GET /metrics answers the Prometheus text format, every family typed', async (t) => {
  const { app } = await fakeHost(t)
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const { types, samples } = parseExposition(res.body)
  t.ok(samples.length > 50, `${samples.length} samples parsed`)
  for (const [name, type] of [
    ['parley_deliveries_total', 'counter'],
    ['parley_presence_updates_total', 'counter'],
    ['parley_network_state', 'gauge'],
    ['parley_network_state_changes_total', 'counter'],
    ['parley_queue_jobs', 'gauge'],
    ['parley_queue_oldest_waiting_seconds', 'gauge'],
    ['parley_scrape_error', 'gauge'],
    // Default process metrics keep their standard names.
    ['process_cpu_user_seconds_total', 'counter'],
    ['nodejs_heap_size_used_bytes', 'gauge'],
  ]) {
    t.equal(types.get(name as string), type, `${name} is a ${type}`)
  }
  for (const queue of ['inbound', 'outbound-fake', 'presence']) {
    for (const state of ['waiting', 'active', 'delayed', 'failed', 'prioritized']) {
      t.equal(sampleValue({ types, samples }, 'parley_queue_jobs', { queue, state }), 0, `${queue}`)
    }
  }
  t.equal(sampleValue({ types, samples }, 'parley_scrape_error', { collector: 'queues' }), 0)
  // Without cluster.instanceId, the generated one (host, pid, random part) is named.
  const instances = samples.filter((s) => s.name === 'parley_instance_info')
  t.equal(instances.length, 1)
  t.match(instances[0]?.labels.instance, new RegExp(`:${process.pid}:[0-9a-f]{6}$`))
})

t.test('the exposition reader refuses what is not the text format', async (t) => {
  // The reader above is what the other tests trust: it must be able to say no.
  t.throws(() => parseExposition('parley_x 1\n'), /no TYPE/)
  t.throws(() => parseExposition('# TYPE parley_x gauge\nparley_x{a="1"} one\n'), /bad value/)
  t.throws(() => parseExposition('# TYPE parley_x gauge\nparley_x{a=1} 1\n'), /not a sample/)
  t.throws(() => parseExposition('# TYPE parley_x gauge\nparley_x 1'), /newline/)
  t.same(parseExposition('# TYPE parley_x gauge\nparley_x{a="b\\"c"} 2.5\n').samples, [
    { name: 'parley_x', labels: { a: 'b\\"c' }, value: 2.5 },
  ])
})

t.test('queue depth and the age of the oldest waiting job follow jobs really queued', async (t) => {
  // A network that never comes online: its outbound worker never runs, so jobs stay waiting.
  const { app } = await fakeHost(t, { throwOnStart: true })
  t.equal(app.networks.get('fake')?.status.state, 'failed')
  const queue = app.queues.outboundFor('fake')
  const data = { network: 'fake', message: { id: randomUUID() } } as never
  await queue.add('send', data, { timestamp: Date.now() - 30_000 })
  await queue.add('send', data)
  await queue.add('send', data)
  await app.queues.inbound.add('message', data, { delay: 60_000 })
  const metrics = await scrape(app)
  t.equal(
    sampleValue(metrics, 'parley_queue_jobs', { queue: 'outbound-fake', state: 'waiting' }),
    3,
  )
  t.equal(sampleValue(metrics, 'parley_queue_jobs', { queue: 'inbound', state: 'delayed' }), 1)
  t.equal(sampleValue(metrics, 'parley_queue_jobs', { queue: 'inbound', state: 'waiting' }), 0)
  const age = sampleValue(metrics, 'parley_queue_oldest_waiting_seconds', {
    queue: 'outbound-fake',
  })
  t.ok(age !== undefined && age >= 30 && age < 60, `oldest waiting job is ${age} s old`)
  t.equal(sampleValue(metrics, 'parley_queue_oldest_waiting_seconds', { queue: 'inbound' }), 0)

  await queue.drain()
  const drained = await scrape(app)
  t.equal(
    sampleValue(drained, 'parley_queue_jobs', { queue: 'outbound-fake', state: 'waiting' }),
    0,
  )
  t.equal(
    sampleValue(drained, 'parley_queue_oldest_waiting_seconds', { queue: 'outbound-fake' }),
    0,
  )
})

t.test(
  'a message sent through the network counts as sent, the inbound job as handled',
  async (t) => {
    const { app, fake } = await fakeHost(t)
    t.equal(sampleValue(await scrape(app), 'parley_deliveries_total', outbound), undefined)
    await fake.receive('alice@fake.test', 'hello', 'm-1')
    await waitFor('the echo reply', () => fake.sent.length === 1)
    const metrics = await waitFor('both counted', async () => {
      const m = await scrape(app)
      return sampleValue(m, 'parley_deliveries_total', { ...outbound, outcome: 'sent' }) === 1 &&
        sampleValue(m, 'parley_deliveries_total', { queue: 'inbound', outcome: 'handled' }) === 1
        ? m
        : undefined
    })
    t.equal(
      sampleValue(metrics, 'parley_deliveries_total', {
        queue: 'inbound',
        network: 'fake',
        outcome: 'handled',
      }),
      1,
    )
    t.equal(
      sampleValue(metrics, 'parley_deliveries_total', { ...outbound, outcome: 'failed' }),
      undefined,
    )
    t.equal(
      sampleValue(metrics, 'parley_deliveries_total', { ...outbound, outcome: 'retried' }),
      undefined,
    )
    await sendMessage(app, 'over REST')
    await waitFor('the second send counted', async () => {
      const m = await scrape(app)
      return sampleValue(m, 'parley_deliveries_total', { ...outbound, outcome: 'sent' }) === 2
    })
    t.equal(fake.sent.length, 2)
  },
)

t.test('a retryable send failure counts as retried, then sent', async (t) => {
  const { app, fake } = await fakeHost(t)
  fake.failNext(2, true)
  const id = await sendMessage(app, 'r')
  await waitFor(
    'sent after retries',
    async () => (await app.store.messages.get(id))?.status === 'sent',
  )
  const metrics = await waitFor('the send counted', async () => {
    const m = await scrape(app)
    return sampleValue(m, 'parley_deliveries_total', { ...outbound, outcome: 'sent' }) === 1
      ? m
      : undefined
  })
  t.equal(sampleValue(metrics, 'parley_deliveries_total', { ...outbound, outcome: 'retried' }), 2)
  t.equal(
    sampleValue(metrics, 'parley_deliveries_total', { ...outbound, outcome: 'failed' }),
    undefined,
  )
})

t.test('a non-retryable send failure counts as failed, not retried', async (t) => {
  const { app, fake } = await fakeHost(t)
  fake.failNext(1, false)
  const id = await sendMessage(app, 'no')
  await waitFor('failed', async () => (await app.store.messages.get(id))?.status === 'failed')
  const metrics = await waitFor('the failure counted', async () => {
    const m = await scrape(app)
    return sampleValue(m, 'parley_deliveries_total', { ...outbound, outcome: 'failed' }) === 1
      ? m
      : undefined
  })
  t.equal(
    sampleValue(metrics, 'parley_deliveries_total', { ...outbound, outcome: 'retried' }),
    undefined,
  )
  t.equal(
    sampleValue(metrics, 'parley_deliveries_total', { ...outbound, outcome: 'sent' }),
    undefined,
  )
  t.equal(sampleValue(metrics, 'parley_queue_jobs', { queue: 'outbound-fake', state: 'failed' }), 1)
})

t.test('the network state gauge follows a status change', async (t) => {
  const { app, fake } = await fakeHost(t)
  const before = await scrape(app)
  t.equal(sampleValue(before, 'parley_network_state', { network: 'fake', state: 'online' }), 1)
  t.equal(sampleValue(before, 'parley_network_state', { network: 'fake', state: 'offline' }), 0)
  const offlineBefore = sampleValue(before, 'parley_network_state_changes_total', {
    network: 'fake',
    state: 'offline',
  })
  fake.goOffline('peer went away')
  const after = await scrape(app)
  t.equal(sampleValue(after, 'parley_network_state', { network: 'fake', state: 'online' }), 0)
  t.equal(sampleValue(after, 'parley_network_state', { network: 'fake', state: 'offline' }), 1)
  const states = after.samples.filter(
    (s) => s.name === 'parley_network_state' && s.labels.network === 'fake',
  )
  t.same(
    states.map((s) => s.labels.state).sort(),
    ['connecting', 'degraded', 'failed', 'offline', 'online'],
    'one series per state',
  )
  t.equal(
    states.reduce((sum, s) => sum + s.value, 0),
    1,
    'exactly one state is current',
  )
  t.equal(
    sampleValue(after, 'parley_network_state_changes_total', { network: 'fake', state: 'offline' }),
    (offlineBefore ?? 0) + 1,
  )
})

t.test('presence updates a network hands over are counted per network', async (t) => {
  const { app, fake } = await fakeHost(t)
  for (const who of ['alice', 'bob', 'alice']) {
    await fake.ctx.emit({
      type: 'presence',
      from: `fake:${who}@fake.test`,
      to: 'fake:bot@fake.test',
      availability: 'available',
      remoteId: randomUUID(),
    })
  }
  t.equal(sampleValue(await scrape(app), 'parley_presence_updates_total', { network: 'fake' }), 3)
})

t.test('leases and the instance are exported when known, nothing when not', async (t) => {
  const app = await testApp(t, {
    cluster: { instanceId: 'host-a' },
    plugins: [{ name: 'ghost', module: './test/helpers/no-such-plugin.ts' }],
  } as never)
  const before = await scrape(app)
  t.equal(sampleValue(before, 'parley_instance_info', { instance: 'host-a' }), 1)
  t.equal(sampleValue(before, 'parley_network_lease_mine', { network: 'ghost' }), undefined)
  t.equal(sampleValue(before, 'parley_network_lease', { network: 'ghost' }), undefined)
  const ghost = app.networks.get('ghost')
  if (!ghost) throw new Error('no ghost network')
  ghost.lease = { owner: 'host-b', mine: false, fence: 7 }
  const owned = await scrape(app)
  t.equal(sampleValue(owned, 'parley_network_lease', { network: 'ghost', owner: 'host-b' }), 1)
  t.equal(sampleValue(owned, 'parley_network_lease_mine', { network: 'ghost' }), 0)
  t.equal(sampleValue(owned, 'parley_network_lease_fence', { network: 'ghost' }), 7)
  ghost.lease = { owner: null, mine: false, fence: 7 }
  const lapsed = await scrape(app)
  t.equal(sampleValue(lapsed, 'parley_network_lease', { network: 'ghost' }), undefined, 'no owner')
  t.equal(sampleValue(lapsed, 'parley_network_lease_mine', { network: 'ghost' }), 0)
})

t.test('Redis down: the scrape still answers, without queue depths, and says so', async (t) => {
  const { app } = await fakeHost(t)
  app.queues.producer.disconnect()
  t.teardown(() => app.queues.producer.connect().catch(() => undefined))
  const started = Date.now()
  const metrics = await scrape(app)
  t.ok(Date.now() - started < 5000, 'answered without waiting for Redis')
  t.equal(sampleValue(metrics, 'parley_scrape_error', { collector: 'queues' }), 1)
  t.notOk(
    metrics.samples.some((s) => s.name.startsWith('parley_queue_')),
    'no queue series from a queue that could not be read',
  )
  t.equal(sampleValue(metrics, 'parley_network_state', { network: 'fake', state: 'online' }), 1)
})

t.test('GET /metrics needs metrics:read or admin', async (t) => {
  const { app } = await fakeHost(t)
  const key = async (scopes: string[]) =>
    `Bearer ${(await app.store.apiKeys.create({ scopes: scopes as never })).key}`
  const none = await app.inject({ url: '/metrics', headers: { authorization: undefined } })
  t.equal(none.statusCode, 401)
  t.equal(none.json().code, 'PARLEY_ERR_UNAUTHORIZED')
  const presence = await app.inject({
    url: '/metrics',
    headers: { authorization: await key(['presence:read']) },
  })
  t.equal(presence.statusCode, 403)
  t.equal(presence.json().code, 'PARLEY_ERR_FORBIDDEN')
  t.match(presence.json().message, "'metrics:read'")
  const reader = await app.inject({
    url: '/metrics',
    headers: { authorization: await key(['metrics:read']) },
  })
  t.equal(reader.statusCode, 200)
  t.match(reader.body, /^parley_network_state\{network="fake",state="online"\} 1$/m)
  const admin = await app.inject({ url: '/metrics' })
  t.equal(admin.statusCode, 200)
  t.equal(
    app.auth.routes().find((r) => r.url === '/metrics' && r.method === 'GET')?.scope,
    'metrics:read',
  )
})

t.test('/metrics is in the OpenAPI document with its scope', async (t) => {
  const { app } = await fakeHost(t)
  const doc = (await app.inject({ url: '/docs/json' })).json()
  t.match(doc.paths['/metrics'].get.description, 'scope `metrics:read`')
  t.ok(doc.paths['/metrics'].get.responses['200'].content['text/plain'], 'text/plain answer')
})
