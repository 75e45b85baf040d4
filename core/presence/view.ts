import {
  type AddressString,
  type Presence,
  type PresenceObservation,
  toLyncAvailability,
} from '../contract/index.js'
import type { Network } from '../loader/network-registry.js'
import type { LastKnown } from '../store/presence-store.js'
import type { LiveEntry } from './live-store.js'

const CARRYING = new Set(['online', 'degraded'])

function observation(entry: LiveEntry | LastKnown): PresenceObservation | undefined {
  if (entry.availability === 'unknown') return undefined
  return {
    availability: entry.availability,
    observedAt: entry.observedAt,
    source: entry.source,
    ...(entry.status !== undefined && { status: entry.status }),
    ...(entry.raw !== undefined && { raw: entry.raw }),
  }
}

/**
 * What Parley reports for `address`, given what Redis holds (`live`), the
 * database's last known row (`stored`, consulted only when Redis has
 * nothing) and the state of the network that carries it. Never reports a
 * stale value as current: if the connection is down, or the value predates
 * its last loss (or the host's start), the answer is `unknown` with the
 * value under `lastKnown`.
 */
export function presenceView(
  address: AddressString,
  network: Pick<Network, 'status' | 'lostAt'> | undefined,
  live: LiveEntry | undefined,
  stored?: LastKnown,
): Presence {
  if (live?.availability === 'unknown') {
    return { address, availability: 'unknown', reason: 'not-watched' }
  }
  const last = live ? observation(live) : stored ? observation(stored) : undefined
  if (!last) return { address, availability: 'unknown', reason: 'no-presence' }
  const lastKnown = { ...last, from: live ? ('redis' as const) : ('database' as const) }
  if (!network || !CARRYING.has(network.status.state)) {
    return { address, availability: 'unknown', reason: 'network-offline', lastKnown }
  }
  if (!live || live.observedAt < network.lostAt) {
    return { address, availability: 'unknown', reason: 'stale', lastKnown }
  }
  return { address, ...last, lync: toLyncAvailability(last.availability) }
}
