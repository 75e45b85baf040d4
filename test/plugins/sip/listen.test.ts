import { createServer, type Server } from 'node:net'
import t from 'tap'
import { Value } from 'typebox/value'
import type { Connection } from '../../../core/contract/index.js'
import plugin from '../../../plugins/sip/index.js'
import { createPluginContext } from '../../helpers/plugin-context.js'
import { freePort } from '../../peers/peer-process.js'

/**
 * The SIP edge's listeners: an address another process holds (a paused
 * host that lost the network's lease, say) is retried until it is free;
 * one that can never be bound is a clear failure. Real sockets throughout.
 */
const ADDRESS = '127.0.0.62'

async function holdPort(port: number): Promise<Server> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, ADDRESS, () => resolve())
  })
  return server
}

function edge(port: number, address = ADDRESS) {
  const ctx = createPluginContext()
  const config = Value.Default(plugin.configSchema, {
    domain: 'parley.test',
    identities: ['bot'],
    listen: { address, port, udp: false, tcp: true },
    // Nobody answers here: the edge stays offline after binding, which is fine for this test.
    peers: [{ domains: ['peer.test'], host: ADDRESS, port: 9, transport: 'tcp' }],
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
  }) as Parameters<typeof plugin.create>[1]
  const connection: Connection = plugin.create(ctx, config)
  return { ctx, connection }
}

t.test('an address in use is retried until it is free, then bound', async (t) => {
  const port = await freePort(ADDRESS)
  const holder = await holdPort(port)
  const { ctx, connection } = edge(port)
  t.teardown(() => connection.stop())
  const started = await connection.start().then(
    () => undefined,
    (err: { code?: string; retryable?: boolean; message: string }) => err,
  )
  t.equal(started?.code, 'PARLEY_ERR_PLUGIN_START')
  t.equal(started?.retryable, true, 'retryable: the edge keeps trying')
  t.match(started?.message, /EADDRINUSE/)
  t.match(ctx.statuses.at(-1), { state: 'offline', retryable: true, condition: 'EADDRINUSE' })
  // The holder lets go; a later try binds the port.
  await new Promise<void>((resolve) => holder.close(() => resolve()))
  const since = ctx.statuses.length
  // Bound, the edge goes on to probe its peer (nobody answers there: offline, ECONNREFUSED).
  await ctx.waitForStatus((s) => s.state !== 'connecting' && s.condition !== 'EADDRINUSE', {
    since,
  })
  const deadline = Date.now() + 5000
  let bound = false
  while (!bound && Date.now() < deadline) {
    bound = await holdPort(port).then(
      async (probe) => {
        await new Promise<void>((resolve) => probe.close(() => resolve()))
        return false
      },
      (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE',
    )
    if (!bound) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  t.ok(bound, 'the edge holds the port now')
  t.notOk(
    ctx.statuses.some((s) => s.state === 'failed'),
    'never reported failed while the address was busy',
  )
})

t.test('stop() ends the retries', async (t) => {
  const port = await freePort(ADDRESS)
  const holder = await holdPort(port)
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())))
  const { ctx, connection } = edge(port)
  await connection.start().catch(() => undefined)
  await connection.stop()
  const seen = ctx.statuses.length
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(ctx.statuses.length, seen, 'no further attempt after stop()')
})

t.test('an address that cannot be bound at all is a failure, not retried', async (t) => {
  const port = await freePort(ADDRESS)
  // 192.0.2.1 (TEST-NET-1) is not an address of this machine: EADDRNOTAVAIL.
  const { ctx, connection } = edge(port, '192.0.2.1')
  t.teardown(() => connection.stop())
  const err = await connection.start().then(
    () => undefined,
    (e: { retryable?: boolean; message: string }) => e,
  )
  t.equal(err?.retryable, false)
  t.match(err?.message, /EADDRNOTAVAIL/)
  t.match(ctx.statuses.at(-1), { state: 'failed', retryable: false })
})
