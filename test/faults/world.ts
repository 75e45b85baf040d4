/**
 * The set-up each fault scenario starts from: real peers of its own (Prosody
 * and/or Kamailio, and a dedicated Redis or a proxied PostgreSQL when the
 * scenario breaks them), the real host as a child process
 * (test/helpers/host-process.ts) with the ledger bot answering on every
 * network, and users who talk to it. Everything is stopped at teardown.
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { ParleyConfigInput } from '../../core/config/schema.js'
import { deleteRedisPrefix, REDIS_URL } from '../helpers/app.js'
import { type HostProcess, startHost } from '../helpers/host-process.js'
import { openPolicy } from '../helpers/policy.js'
import { connectUser, type XmppUser } from '../helpers/xmpp-user.js'
import { type KamailioPeer, startKamailio } from '../peers/kamailio.js'
import { freePort } from '../peers/peer-process.js'
import { type ProsodyPeer, startProsody } from '../peers/prosody.js'
import { type RedisPeer, startRedis } from '../peers/redis.js'
import { connectSipUser, type SipUser } from '../peers/sip-user.js'
import { startTcpProxy, type TcpProxy } from '../peers/tcp-proxy.js'
import { dropSchema, PG_TEST_URL, uniqueSchemaName } from '../store/fixtures/backends.js'
import { type Party, sipParty, xmppParty } from './conversation.js'

const LEDGER_BOT = './test/helpers/bots/ledger/index.ts'
export const XMPP_BOT = 'bot@parley.test'
export const SIP_BOT = 'sip:bot@parley.test'

export interface WorldOptions {
  /** XMPP users (Prosody), each a party. */
  xmppUsers?: number
  /**
   * SIP: three loopback addresses of the scenario's own (Kamailio, Parley's
   * edge, the user), from 127.0.0.50–59, and how many users (one address
   * each after the first two).
   */
  sip?: { addresses: string[]; users?: number }
  /** A dedicated Redis (AOF on) instead of the shared one. */
  dedicatedRedis?: boolean
  /** PostgreSQL (its own schema) through a TCP proxy the test can cut, instead of SQLite. */
  proxiedPostgres?: boolean
  /** More bots (e.g. one that fails), besides the ledger bot on `bot`. */
  extraBots?: NonNullable<ParleyConfigInput['bots']>
  /** More SIP identities besides `bot`. */
  extraSipIdentities?: string[]
  queues?: ParleyConfigInput['queues']
  /**
   * Host processes sharing Redis and the database (PostgreSQL, as a
   * deployment of several would): the first owns the connections at start.
   * @defaultValue 1
   */
  processes?: number
  xmppOptions?: Record<string, unknown>
  sipOptions?: Record<string, unknown>
}

export interface World {
  /** The first host process (the only one unless `processes` was set). */
  host: HostProcess
  /** Every host process, `host` first. */
  hosts: HostProcess[]
  prosody?: ProsodyPeer
  kamailio?: KamailioPeer
  redis?: RedisPeer
  pgProxy?: TcpProxy
  xmppUsers: XmppUser[]
  sipUsers: SipUser[]
  parties: Party[]
  /** The ledger bot's file: one line per turn. */
  ledger: string
  dir: string
  /** The host's Redis and BullMQ prefix. */
  redisUrl: string
  prefix: string
}

export async function faultWorld(t: Test, options: WorldOptions): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-faults-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ledger = join(dir, 'ledger.txt')
  const world: Partial<World> & { xmppUsers: XmppUser[]; sipUsers: SipUser[]; parties: Party[] } = {
    xmppUsers: [],
    sipUsers: [],
    parties: [],
    ledger,
    dir,
  }

  // Redis: a dedicated one to break, or a prefix of its own on the shared one.
  const prefix = `pfault-${randomUUID().slice(0, 8)}`
  let redisUrl = REDIS_URL
  if (options.dedicatedRedis) {
    const redis = await startRedis()
    t.teardown(() => redis.stop())
    world.redis = redis
    redisUrl = redis.url
  } else {
    t.teardown(() => deleteRedisPrefix(prefix))
  }
  world.redisUrl = redisUrl
  world.prefix = prefix

  let database: ParleyConfigInput['database'] = { sqlitePath: join(dir, 'parley.sqlite') }
  const processes = options.processes ?? 1
  if (processes > 1 && !options.proxiedPostgres) {
    const schema = uniqueSchemaName()
    t.teardown(() => dropSchema(schema))
    database = { url: PG_TEST_URL, schema }
  }
  if (options.proxiedPostgres) {
    const target = new URL(PG_TEST_URL)
    const proxy = await startTcpProxy({
      host: target.hostname,
      port: Number(target.port || 5432),
    })
    t.teardown(() => proxy.close())
    world.pgProxy = proxy
    const schema = uniqueSchemaName()
    t.teardown(() => dropSchema(schema))
    target.host = `127.0.0.1:${proxy.port}`
    database = { url: target.toString(), schema }
  }

  const plugins: NonNullable<ParleyConfigInput['plugins']> = []
  const identities: string[] = []
  if (options.xmppUsers) {
    const users = Array.from({ length: options.xmppUsers }, (_, i) => ({
      username: `user${i}`,
      password: `pass${i}`,
    }))
    const prosody = await startProsody({
      users: [{ username: 'bot', password: 'bot-pass' }, ...users],
    })
    t.teardown(() => prosody.stop())
    world.prosody = prosody
    plugins.push({
      name: 'xmpp',
      options: {
        service: prosody.service,
        domain: prosody.domain,
        username: 'bot',
        password: 'bot-pass',
        reconnectMinMs: 200,
        reconnectMaxMs: 2000,
        pingIntervalMs: 2000,
        pingTimeoutMs: 1500,
        connectTimeoutMs: 3000,
        ackTimeoutMs: 5000,
        ...options.xmppOptions,
      },
    })
    identities.push(`xmpp:${XMPP_BOT}`)
  }

  let parleyPort = 0
  if (options.sip) {
    const [kamailioAddress, edge] = options.sip.addresses
    if (!kamailioAddress || !edge) throw new Error('sip worlds need their own addresses')
    parleyPort = await freePort(edge)
    const kamailio = await startKamailio({
      address: kamailioAddress,
      parleyTarget: { address: edge, port: parleyPort, transport: 'tcp' },
    })
    t.teardown(() => kamailio.stop())
    world.kamailio = kamailio
    plugins.push({
      name: 'sip',
      options: {
        domain: 'parley.test',
        identities: ['bot', ...(options.extraSipIdentities ?? [])],
        listen: { address: edge, port: parleyPort, udp: false },
        peers: [
          {
            domains: kamailio.domains,
            host: kamailio.address,
            port: kamailio.tcpPort,
            transport: 'tcp',
          },
        ],
        requestTimeoutMs: 3000,
        probeIntervalMs: 1000,
        reconnectMinMs: 200,
        reconnectMaxMs: 2000,
        ...options.sipOptions,
      },
    })
    identities.push(`sip:${SIP_BOT}`)
  }

  const name = t.name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 40) || 'faults'
  const config: ParleyConfigInput = {
    database,
    redis: { url: redisUrl, prefix },
    queues: {
      // Retries quick enough for outages of a few seconds, and enough of them.
      attempts: 30,
      backoffMs: 100,
      backoffMaxMs: 1000,
      pluginStartTimeoutMs: 5000,
      // A job the killed process held is taken back after about this long
      // (BullMQ's lock), not the default 30 s: counted in "time to recover".
      lockMs: 3000,
      ...options.queues,
    },
    policy: openPolicy(),
    // Steady load from a few senders: the per-sender flood limit is out of reach here.
    federation: { senderLimit: { points: 1_000_000, windowSeconds: 1 } },
    security: { rateLimit: { max: 1_000_000 } },
    plugins,
    bots: [
      { name: 'ledger', module: LEDGER_BOT, identities, options: { file: ledger } },
      ...(options.extraBots ?? []),
    ],
  }
  const host = await startHost(t, { name, config })
  world.host = host
  world.hosts = [host]
  for (const p of plugins) await host.waitForNetwork(p.name, ['online'])
  // The others start once the first owns every connection, and share its admin key.
  for (let i = 2; i <= processes; i++) {
    world.hosts.push(
      await startHost(t, {
        name: `${name}-p${i}`,
        config: { ...config, security: { ...config.security, adminKey: host.adminKey } },
      }),
    )
  }

  if (world.prosody) {
    const prosody = world.prosody
    for (let i = 0; i < (options.xmppUsers ?? 0); i++) {
      const user = await connectUser({
        service: prosody.service,
        domain: prosody.domain,
        username: `user${i}`,
        password: `pass${i}`,
      })
      t.teardown(() => user.stop())
      world.xmppUsers.push(user)
      world.parties.push(xmppParty(`x${i}`, user, XMPP_BOT))
    }
  }
  if (world.kamailio && options.sip) {
    const kamailio = world.kamailio
    const addresses = options.sip.addresses.slice(2)
    for (let i = 0; i < (options.sip.users ?? 1); i++) {
      const address = addresses[i]
      if (!address) throw new Error('one loopback address per SIP user')
      const user = await connectSipUser({
        kamailio,
        username: `user${i}`,
        domain: 'aol.test',
        address,
        transport: 'tcp',
        requestTimeoutMs: 4000,
      })
      // Stopped before Kamailio (teardown runs in reverse): no stray socket errors.
      t.teardown(() => user.stop())
      world.sipUsers.push(user)
      world.parties.push(sipParty(`s${i}`, user, SIP_BOT))
    }
  }
  return world as World
}
