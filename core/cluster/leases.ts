import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'
import type { ConnectionStatus } from '../contract/index.js'
import type { NetworkRegistry } from '../loader/network-registry.js'

/**
 * What this process does when it gains or loses a network's connection.
 * Transitions of one network run one at a time, in order.
 */
export interface LeaseHandlers {
  /** This process now owns the network: connect it and consume its outbound queue. */
  acquired(fence: number): Promise<void>
  /** It no longer does (lapsed, taken, or closing): stop sending, disconnect. */
  lost(reason: string): Promise<void>
}

export interface LeaseSettings {
  /** The host's producer connection (commands fail fast while Redis is down). */
  redis: Redis
  prefix: string
  instanceId: string
  leaseMs: number
  renewMs: number
  registry: NetworkRegistry
  log: FastifyBaseLogger
}

/** The owner's view of its network, shared so every process answers alike. */
interface SharedStatus {
  status: ConnectionStatus
  since: string
  lostAt: string
}

interface Held {
  token: string
  fence: number
  /** Past this time (local clock) the lease may have lapsed in Redis: send nothing. */
  validUntil: number
}

interface Entry {
  network: string
  handlers: LeaseHandlers
  held?: Held
  /** Transitions (acquired/lost) of this network, chained. */
  transitions: Promise<void>
  /** Owner and fence seen last, to log and report changes once. */
  seen?: string
}

// Acquire: KEYS lease, fence counter, shared status; ARGV instance id, lease ms.
// Taken: {0, owner token, shared status}. Free: a new fence, {1, token}.
// A lease left by a process of this very instance id is free: that process
// is gone (two live processes never share an id), so a restarted one with
// a configured id does not wait for its predecessor's lease to lapse.
const ACQUIRE = `
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, (string.find(current, '|', 1, true) or 0) + 1) ~= ARGV[1] then
  return {0, current, redis.call('GET', KEYS[3]) or ''}
end
local fence = redis.call('INCR', KEYS[2])
local token = fence .. '|' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return {1, token}
`
// Renew: KEYS lease; ARGV token, lease ms. 1 if still ours.
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`
// Release: KEYS lease; ARGV token.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`
// Publish the owner's status, only while it still owns the lease:
// KEYS lease, shared status; ARGV token, status JSON, channel, network.
const PUBLISH_STATUS = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`

/** A process's default name: host, process id and a random part (a restarted process is a new owner). */
export function defaultInstanceId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`
}

/**
 * Connection leases: each network's connection is owned by exactly one
 * host process at a time (docs/scaling.md).
 *
 * - The lease is a Redis key holding `<fence>|<instance>` with a time to
 *   live of `leaseMs`; the owner renews it every `renewMs`, and the other
 *   processes try to take it as often. The fence grows with every new owner.
 * - Fencing: the owner trusts its lease only until `leaseMs` (less a
 *   margin) after the start of its last successful renewal, by its own
 *   clock. `holds()` is checked before every send, so a process that was
 *   paused or cut off from Redis past that time sends nothing, even before
 *   it learns that another process took over.
 * - The owner publishes its connection's status; the others mirror it into
 *   their registry, so presence answers agree across processes.
 */
export class NetworkLeases {
  private readonly entries = new Map<string, Entry>()
  private timer: NodeJS.Timeout | undefined
  private subscriber: Redis | undefined
  private closed = false
  private ticking: Promise<void> | undefined
  private readonly margin: number
  private readonly channel: string
  /** An owned network's status changes are published (publishStatus skips the others). */
  private readonly onStatus = (network: string) => void this.publishStatus(network)

  constructor(private readonly settings: LeaseSettings) {
    // Redis expires keys by its own clock; a small margin covers the time a
    // renewal spends on the wire before Redis applies it.
    this.margin = Math.min(1000, Math.floor(settings.leaseMs / 10))
    this.channel = `${settings.prefix}:network-status`
  }

  get instanceId(): string {
    return this.settings.instanceId
  }

  /** Registers a network; it is contended for from `start()` on. */
  add(network: string, handlers: LeaseHandlers): void {
    this.entries.set(network, { network, handlers, transitions: Promise.resolve() })
  }

  /**
   * Follows other owners' status and makes the first attempt at every
   * lease; resolves once the networks this process won have run their
   * `acquired` handler (so a lone process starts its networks as before).
   */
  async start(): Promise<void> {
    this.settings.registry.on('status', this.onStatus)
    await this.follow().catch((err: unknown) =>
      this.settings.log.warn({ err }, 'cannot follow network status from other processes'),
    )
    await this.tick()
    await Promise.all([...this.entries.values()].map((e) => e.transitions))
    this.timer = setInterval(() => void this.tick(), this.settings.renewMs)
  }

  /** Whether this process owns `network` now, by its own clock (checked before every send). */
  holds(network: string): boolean {
    const held = this.entries.get(network)?.held
    return held !== undefined && Date.now() < held.validUntil
  }

  /** The fence of the lease this process holds on `network`, if it holds it. */
  fence(network: string): number | undefined {
    return this.holds(network) ? this.entries.get(network)?.held?.fence : undefined
  }

  /**
   * Stops contending: every held network runs `lost('closing')` (which
   * disconnects it), then its lease is released so another process takes
   * it at once instead of after `leaseMs`.
   */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.timer)
    this.settings.registry.off('status', this.onStatus)
    await this.ticking
    const releases = [...this.entries.values()].map(async (entry) => {
      const held = entry.held
      if (!held) return
      this.transition(entry, 'lost', 'closing')
      await entry.transitions
      await this.settings.redis
        .eval(RELEASE, 1, this.key('lease', entry.network), held.token)
        .then(() => this.settings.redis.publish(this.channel, `released:${entry.network}`))
        .catch((err: unknown) =>
          this.settings.log.warn(
            { network: entry.network, err },
            'could not release the connection lease; it lapses by itself',
          ),
        )
    })
    await Promise.all(releases)
    const subscriber = this.subscriber
    this.subscriber = undefined
    if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect())
  }

  private key(kind: string, network: string): string {
    return `${this.settings.prefix}:${kind}:${network}`
  }

  private tick(): Promise<void> {
    if (this.closed) return Promise.resolve()
    // One round at a time: a slow Redis must not pile renewals up.
    this.ticking ??= Promise.all([...this.entries.values()].map((e) => this.round(e)))
      .then(() => undefined)
      .finally(() => {
        this.ticking = undefined
      })
    return this.ticking
  }

  private async round(entry: Entry): Promise<void> {
    const { redis, leaseMs, instanceId, log } = this.settings
    const sentAt = Date.now()
    const held = entry.held
    if (held) {
      if (sentAt >= held.validUntil) {
        this.drop(entry, 'lease lapsed: not renewed in time (Redis unreachable or process paused)')
        return
      }
      try {
        const renewed = await redis.eval(
          RENEW,
          1,
          this.key('lease', entry.network),
          held.token,
          leaseMs,
        )
        if (this.closed || entry.held !== held) return
        if (renewed === 1) held.validUntil = sentAt + leaseMs - this.margin
        else this.drop(entry, 'lease taken by another process')
      } catch (err) {
        // Keep sending while the lease is still surely ours; the next round retries.
        log.warn(
          {
            network: entry.network,
            err: (err as Error).message,
            validForMs: held.validUntil - Date.now(),
          },
          'could not renew the connection lease',
        )
      }
      return
    }
    let answer: unknown
    try {
      answer = await redis.eval(
        ACQUIRE,
        3,
        this.key('lease', entry.network),
        this.key('lease-fence', entry.network),
        this.key('network', entry.network),
        instanceId,
        leaseMs,
      )
    } catch (err) {
      log.debug({ network: entry.network, err: (err as Error).message }, 'lease attempt failed')
      return
    }
    if (this.closed) return
    const [won, token, shared] = answer as [number, string, string?]
    const fence = Number(token.slice(0, token.indexOf('|')))
    const owner = token.slice(token.indexOf('|') + 1)
    if (won === 1) {
      entry.held = { token, fence, validUntil: sentAt + leaseMs - this.margin }
      // What the previous owner last said no longer holds: this process connects anew.
      this.settle(entry.network, 'connection lease acquired: connecting')
      this.note(entry, owner, fence)
      this.transition(entry, 'acquired', fence)
      return
    }
    this.note(entry, owner, fence)
    if (shared) this.mirror(entry.network, shared)
  }

  private drop(entry: Entry, reason: string): void {
    entry.held = undefined
    this.note(entry, null, 0)
    this.settle(entry.network, `standby: ${reason}`)
    this.transition(entry, 'lost', reason)
  }

  /** Sets a network's status here, without its connection: on taking or losing the lease. */
  private settle(network: string, reason: string): void {
    const now = new Date().toISOString()
    const previous = this.settings.registry.get(network)
    const carrying = previous?.status.state === 'online' || previous?.status.state === 'degraded'
    this.settings.registry.mirror(network, {
      status: { state: 'offline', reason },
      since: now,
      lostAt: carrying ? now : (previous?.lostAt ?? now),
    })
  }

  /** Records the owner in the registry (REST, metrics) and logs a change once. */
  private note(entry: Entry, owner: string | null, fence: number): void {
    const network = this.settings.registry.get(entry.network)
    const mine = owner === this.settings.instanceId
    if (network) network.lease = { owner, mine, fence }
    const seen = `${owner}|${fence}`
    if (entry.seen === seen) return
    entry.seen = seen
    this.settings.log.info(
      { network: entry.network, owner, fence, mine },
      owner === null
        ? 'connection lease given up'
        : mine
          ? 'connection lease acquired: this process owns the connection'
          : 'connection owned by another process',
    )
  }

  private transition(entry: Entry, kind: 'acquired', fence: number): void
  private transition(entry: Entry, kind: 'lost', reason: string): void
  private transition(entry: Entry, kind: 'acquired' | 'lost', arg: number | string): void {
    entry.transitions = entry.transitions.then(async () => {
      try {
        if (kind === 'acquired') await entry.handlers.acquired(arg as number)
        else await entry.handlers.lost(arg as string)
      } catch (err) {
        this.settings.log.error(
          { network: entry.network, err, transition: kind },
          'connection lease transition failed',
        )
      }
    })
  }

  /** The owner tells the others what its connection is doing. */
  private async publishStatus(network: string): Promise<void> {
    const entry = this.entries.get(network)
    const registered = this.settings.registry.get(network)
    if (!entry?.held || !registered || this.closed) return
    const shared: SharedStatus = {
      status: registered.status,
      since: registered.since,
      lostAt: registered.lostAt,
    }
    await this.settings.redis
      .eval(
        PUBLISH_STATUS,
        2,
        this.key('lease', network),
        this.key('network', network),
        entry.held.token,
        JSON.stringify(shared),
        this.channel,
        `status:${network}`,
      )
      .catch((err: unknown) =>
        this.settings.log.debug({ network, err }, 'could not publish the network status'),
      )
  }

  private mirror(network: string, json: string): void {
    let shared: SharedStatus
    try {
      shared = JSON.parse(json) as SharedStatus
    } catch {
      return
    }
    if (this.entries.get(network)?.held) return
    this.settings.registry.mirror(network, shared)
  }

  /** Status changes and releases by other processes, as they happen (the rounds catch up anyway). */
  private async follow(): Promise<void> {
    const subscriber = this.settings.redis.duplicate({ lazyConnect: true })
    this.subscriber = subscriber
    subscriber.on('error', (err) =>
      this.settings.log.debug({ err: err.message }, 'network status subscriber connection error'),
    )
    subscriber.on('message', (_channel, message: string) => {
      const colon = message.indexOf(':')
      const kind = message.slice(0, colon)
      const network = message.slice(colon + 1)
      const entry = this.entries.get(network)
      if (!entry || entry.held || this.closed) return
      if (kind === 'released') {
        void this.tick()
        return
      }
      this.settings.redis.get(this.key('network', network)).then(
        (json) => json && this.mirror(network, json),
        () => undefined,
      )
    })
    await subscriber.connect()
    await subscriber.subscribe(this.channel)
  }
}
