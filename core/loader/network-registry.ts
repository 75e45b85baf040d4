import { EventEmitter } from 'node:events'
import {
  type AddressString,
  type Capabilities,
  type Connection,
  type ConnectionStatus,
  type PluginDefinition,
  parleyError,
  parseAddress,
} from '../contract/index.js'

/** What the host knows of one configured network, loaded or not. */
export interface Network {
  name: string
  definition?: PluginDefinition
  connection?: Connection
  status: ConnectionStatus
  /** Last error seen (load, start, send), with its code. */
  lastError?: { code: string; message: string; at: string }
  /** Options as configured, secrets redacted: safe to show. */
  publicOptions: Record<string, unknown>
  since: string
  /**
   * When the connection last stopped carrying presence (left online/degraded),
   * or when the host started: presence observed before it is stale.
   */
  lostAt: string
  /**
   * Who owns this network's connection (core/cluster/leases.ts): the owning
   * process's instance id (null while nobody holds the lease), whether it is
   * this process, and the lease's fencing number (grows with every new owner).
   */
  lease?: { owner: string | null; mine: boolean; fence: number }
  /** A public provider profile whose service ended: the date (it was not started). */
  retired?: string
}

/** Normalised addresses remembered by `resolve()`; cleared when full. */
const MAX_RESOLVED = 10_000

/** States in which a connection carries messages and presence. */
const CARRYING = new Set<ConnectionStatus['state']>(['online', 'degraded'])

export interface NetworkView {
  name: string
  version: string | null
  /** The connection's state, or `retired` for a provider that was not started because it ended. */
  status: ConnectionStatus['state'] | 'retired'
  reason: string | null
  retired: string | null
  since: string
  capabilities: Capabilities | null
  identities: AddressString[]
  lastError: Network['lastError'] | null
  lease: Network['lease'] | null
  options: Record<string, unknown>
}

interface RegistryEvents {
  status: [name: string, status: ConnectionStatus, previous: ConnectionStatus]
}

/**
 * Every configured network and its live state. Status changes are emitted
 * once here; logging, metrics and the outbound workers observe them.
 */
export class NetworkRegistry extends EventEmitter<RegistryEvents> {
  private readonly networks = new Map<string, Network>()
  /** Addresses already parsed and normalised (REST asks for the same ones again and again). */
  private readonly resolved = new Map<string, { network: Network; address: AddressString }>()

  add(name: string, publicOptions: Record<string, unknown>): Network {
    const network: Network = {
      name,
      publicOptions,
      status: { state: 'offline', reason: 'not started' },
      since: new Date().toISOString(),
      lostAt: new Date().toISOString(),
    }
    this.networks.set(name, network)
    return network
  }

  get(name: string): Network | undefined {
    return this.networks.get(name)
  }

  all(): Network[] {
    return [...this.networks.values()]
  }

  /**
   * A status reported by this process's connection. Ignored while another
   * process owns the network (its status is mirrored instead, see `mirror`).
   */
  setStatus(name: string, status: ConnectionStatus): void {
    const network = this.networks.get(name)
    if (!network || network.lease?.mine === false) return
    const previous = network.status
    if (previous.state === status.state && previous.reason === status.reason) return
    network.status = { ...status }
    network.since = new Date().toISOString()
    if (CARRYING.has(previous.state) && !CARRYING.has(status.state)) network.lostAt = network.since
    if (
      status.state === 'failed' ||
      (status.state !== 'online' && status.reason && status.condition)
    ) {
      // lastError.code is always a Parley code; the network's own condition goes in the message.
      const code = status.condition?.startsWith('PARLEY_ERR_')
        ? status.condition
        : status.state === 'failed'
          ? 'PARLEY_ERR_PLUGIN_START'
          : 'PARLEY_ERR_NOT_CONNECTED'
      const wire = status.condition && status.condition !== code ? ` (${status.condition})` : ''
      this.noteError(name, code, `${status.reason ?? status.state}${wire}`)
    }
    this.emit('status', name, network.status, previous)
  }

  /**
   * The status of a network whose connection another process owns, as that
   * process published it (core/cluster/leases.ts): the same state and loss
   * time everywhere, so every process answers presence queries alike.
   */
  mirror(name: string, shared: { status: ConnectionStatus; since: string; lostAt: string }): void {
    const network = this.networks.get(name)
    if (!network) return
    const previous = network.status
    if (
      previous.state === shared.status.state &&
      previous.reason === shared.status.reason &&
      network.lostAt === shared.lostAt
    )
      return
    network.status = { ...shared.status }
    network.since = shared.since
    network.lostAt = shared.lostAt
    this.emit('status', name, network.status, previous)
  }

  noteError(name: string, code: string, message: string): void {
    const network = this.networks.get(name)
    if (network) network.lastError = { code, message, at: new Date().toISOString() }
  }

  /** Resolves true once `name` is online, or false if `signal` aborts first. */
  waitOnline(name: string, signal: AbortSignal): Promise<boolean> {
    if (this.isOnline(name)) return Promise.resolve(true)
    if (signal.aborted) return Promise.resolve(false)
    return new Promise((resolve) => {
      const onStatus = (changed: string) => {
        if (changed === name && this.isOnline(name)) done(true)
      }
      const onAbort = () => done(false)
      const done = (value: boolean) => {
        this.off('status', onStatus)
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      }
      this.on('status', onStatus)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  isOnline(name: string): boolean {
    return this.networks.get(name)?.status.state === 'online'
  }

  /** Whether the network's connection is up (online or degraded): its presence is live. */
  isCarrying(name: string): boolean {
    const state = this.networks.get(name)?.status.state
    return state !== undefined && CARRYING.has(state)
  }

  /**
   * Parses `value` (`network:id`) and normalises the id with the network's
   * plugin. Throws PARLEY_ERR_ADDRESS_INVALID (malformed) or
   * PARLEY_ERR_NETWORK_UNKNOWN (no such network configured).
   */
  resolve(value: string): { network: Network; address: AddressString } {
    const known = this.resolved.get(value)
    if (known && this.networks.get(known.network.name) === known.network) return known
    const resolved = this.resolveUncached(value)
    if (this.resolved.size >= MAX_RESOLVED) this.resolved.clear()
    this.resolved.set(value, resolved)
    return resolved
  }

  private resolveUncached(value: string): { network: Network; address: AddressString } {
    const parsed = parseAddress(value)
    const network = this.networks.get(parsed.network)
    if (!network) throw parleyError('PARLEY_ERR_NETWORK_UNKNOWN', parsed.network)
    const normalize = network.definition?.normalizeId
    if (!normalize) return { network, address: `${parsed.network}:${parsed.id}` }
    try {
      return { network, address: `${parsed.network}:${normalize(parsed.id)}` }
    } catch (error) {
      if ((error as { code?: string }).code === 'PARLEY_ERR_ADDRESS_INVALID') throw error
      throw parleyError('PARLEY_ERR_ADDRESS_INVALID', value, (error as Error).message)
    }
  }

  view(network: Network): NetworkView {
    return {
      name: network.name,
      version: network.definition?.version ?? null,
      status: network.retired ? 'retired' : network.status.state,
      retired: network.retired ?? null,
      reason: network.status.state === 'online' ? null : (network.status.reason ?? null),
      since: network.since,
      capabilities: network.definition?.capabilities ?? null,
      identities: safeIdentities(network.connection),
      lastError: network.lastError ?? null,
      lease: network.lease ?? null,
      options: network.publicOptions,
    }
  }
}

function safeIdentities(connection: Connection | undefined): AddressString[] {
  try {
    return connection?.identities() ?? []
  } catch {
    return []
  }
}
