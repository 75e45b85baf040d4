import type { AddressString } from './address.js'

/**
 * Parley's one availability model. `unknown` means Parley cannot say (no
 * authorised subscription, or the connection that carried it is down): it is
 * never reported as `available`.
 */
export const AVAILABILITIES = ['available', 'away', 'busy', 'dnd', 'offline', 'unknown'] as const
export type Availability = (typeof AVAILABILITIES)[number]

/**
 * Why a presence is `unknown`:
 * - `no-presence`: Parley has received nothing for this address (no
 *   authorised subscription, or no update yet);
 * - `network-offline`: the connection that carries the subscription is down;
 * - `stale`: the last update predates the connection's last loss (or the
 *   host's start), and no fresh update has arrived since;
 * - `not-watched`: the subscription was removed or refused.
 */
export const UNKNOWN_REASONS = ['no-presence', 'network-offline', 'stale', 'not-watched'] as const
export type UnknownReason = (typeof UNKNOWN_REASONS)[number]

/** One observation of someone's presence, as a network reported it. */
export interface PresenceObservation {
  availability: Exclude<Availability, 'unknown'>
  /** Free text the person set ("In a meeting"). */
  status?: string
  /** The network's own value it was mapped from, e.g. XMPP `xa` or `unavailable`. */
  raw?: string
  /** When the host received it (ISO 8601, UTC). */
  observedAt: string
  /** The Parley identity whose subscription carried it. */
  source: AddressString
}

/**
 * The presence Parley reports for an address. When `availability` is
 * `unknown`, `reason` says why and `lastKnown` carries the last observation
 * (from Redis, or from the database after a restart) so a client can show
 * "last seen" without Parley claiming it is current.
 */
export interface Presence {
  address: AddressString
  availability: Availability
  status?: string
  raw?: string
  observedAt?: string
  source?: AddressString
  /** Lync's numeric availability for `availability` (see LYNC_AVAILABILITY). */
  lync?: number
  reason?: UnknownReason
  lastKnown?: PresenceObservation & { from: 'redis' | 'database' }
}

/**
 * Lync Server 2013's numeric availability (the `state/availability` element
 * of its presence documents): one representative value per range.
 * Source: Microsoft, "state/availability element" (Lync 2013 schema
 * reference): 0-4499 available, 4500-5999 available-idle, 6000-7499 busy,
 * 7500-8999 busy-idle, 9000-11999 do not disturb, 12000-14999 be right
 * back, 15000-17999 away, 18000 and higher offline.
 */
export const LYNC_AVAILABILITY = {
  available: 3500,
  busy: 6500,
  dnd: 9500,
  beRightBack: 12500,
  away: 15500,
  offline: 18500,
} as const

/** Lync's number for an availability; `unknown` has none. */
export function toLyncAvailability(availability: Availability): number | undefined {
  return availability === 'unknown' ? undefined : LYNC_AVAILABILITY[availability]
}

/** The availability a Lync number falls in (idle ranges and be-right-back count as away/busy). */
export function fromLyncAvailability(value: number): Availability {
  if (!Number.isFinite(value) || value < 0) return 'unknown'
  if (value < 4500) return 'available'
  if (value < 6000) return 'away' // available-idle
  if (value < 9000) return 'busy' // busy and busy-idle
  if (value < 12000) return 'dnd'
  if (value < 18000) return 'away' // be right back, away
  return 'offline'
}

/** The subscription between a Parley identity and a federated contact. */
export const SUBSCRIPTION_STATES = ['none', 'pending-out', 'pending-in', 'both', 'refused'] as const
/**
 * `pending-out` Parley asked them, `pending-in` they asked Parley, `both`
 * Parley receives their presence (a watch in effect), `refused` one side said
 * no, `none` nothing in force.
 */
export type SubscriptionState = (typeof SUBSCRIPTION_STATES)[number]

/** One roster entry as a plugin reports it (`ctx.roster`). */
export interface RosterEntry {
  /** The contact's address, `network:id`. */
  address: AddressString
  subscription: SubscriptionState
  displayName?: string
  /** In a push (`complete: false`): the entry was removed from the roster. */
  removed?: boolean
}
