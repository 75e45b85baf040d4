import type { FastifyInstance } from 'fastify'
import type { Static, TSchema } from 'typebox'
import type { AddressString } from './address.js'
import type { InboundEvent, OutboundMessage, SendResult } from './events.js'
import type { Availability, RosterEntry } from './presence.js'

/** The contract version this file describes; plugins declare a semver range against it. */
export const CONTRACT_VERSION = '1.2.0'

export const CONNECTION_STATES = ['connecting', 'online', 'degraded', 'offline', 'failed'] as const
export type ConnectionState = (typeof CONNECTION_STATES)[number]

/**
 * A status report. `reason` says why (for anything but `online`);
 * `retryable: false` marks a state the plugin will not leave by itself
 * (bad credentials, a rejected config): an operator must act.
 */
export interface ConnectionStatus {
  state: ConnectionState
  reason?: string
  retryable?: boolean
  /** The network's own condition, e.g. `not-authorized`, `ECONNREFUSED`. */
  condition?: string
}

export interface Capabilities {
  im: boolean
  presence: 'push' | 'poll' | 'none'
  subscriptions: boolean
  typing: boolean
  receipts: boolean
  audioVideo: boolean
  groupChat: boolean
}

/** Minimal structured logger (pino's shape). */
export interface Logger {
  trace(obj: object, msg?: string): void
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  child(bindings: Record<string, unknown>): Logger
}

/** A small per-plugin key/value store kept in the database. */
export interface PluginStateStore {
  get(key: string): Promise<string | undefined>
  set(key: string, value: string): Promise<void>
  delete(key: string): Promise<void>
}

export interface PluginContext {
  /** A child logger bound to the plugin's name. */
  log: Logger
  /**
   * Hands an inbound event to the host. Resolves once the event is durably
   * queued; rejects (with `retryable`) if it could not be, so a plugin can
   * refuse the stanza back to its sender instead of losing it.
   */
  emit(event: InboundEvent): Promise<void>
  /**
   * Reports the roster of `identity`: the whole of it (`complete: true`, e.g.
   * fetched at login; contacts missing from it are dropped) or changed
   * entries (a roster push). The host keeps its contacts in step.
   */
  roster(
    identity: AddressString,
    entries: RosterEntry[],
    options: { complete: boolean },
  ): Promise<void>
  /** Reports a connection status change. The host logs it and shows it in /v1/networks. */
  reportStatus(status: ConnectionStatus): void
  state: PluginStateStore
  /** Aborted when the host shuts down. */
  signal: AbortSignal
}

export interface PresenceUpdate {
  from: AddressString
  availability: Availability
  status?: string
}

export interface SubscriptionRequest {
  from: AddressString
  to: AddressString
}

/**
 * One live connection to a network. The host calls `start()` once at boot,
 * `send()` only from the outbound worker, and `stop()` on shutdown.
 * Optional methods are called only when `capabilities` says so.
 */
export interface Connection {
  /** Resolves when first online; rejects with a PluginError. A retryable
   * rejection means the plugin keeps reconnecting on its own. */
  start(): Promise<void>
  /** Idempotent; resolves when the connection is closed and nothing is in flight. */
  stop(): Promise<void>
  /** The identities (`network:id`) this connection speaks for. */
  identities(): AddressString[]
  /**
   * Sends one message; resolves once the network has it. The host may call
   * `send()` for the next message to the same recipient before the previous
   * call resolved: a plugin must put messages on the wire in call order.
   */
  send(message: OutboundMessage): Promise<SendResult>
  subscribe?(request: SubscriptionRequest): Promise<void>
  unsubscribe?(request: SubscriptionRequest): Promise<void>
  approve?(request: SubscriptionRequest): Promise<void>
  refuse?(request: SubscriptionRequest): Promise<void>
  setPresence?(update: PresenceUpdate): Promise<void>
  probe?(request: SubscriptionRequest): Promise<void>
  /**
   * Whether the stream that carries this connection's traffic is encrypted
   * now (TLS), if the plugin knows; undefined otherwise. The policy refuses
   * an XMPP partner's traffic whose `tls` is Required over a stream that is
   * not (contract 1.2.0).
   */
  transportSecure?(): boolean | undefined
}

export interface PluginDefinition<S extends TSchema = TSchema> {
  /** Folder name; also the config key, the address scheme and the queue suffix. */
  name: string
  version: string
  /** Semver range of the contract implemented, e.g. `^1.0.0`. */
  contract: string
  capabilities: Capabilities
  /** JSON Schema (TypeBox) of the plugin's options. */
  configSchema: S
  /** Option names whose values are secrets (redacted from logs and /v1/networks). */
  secrets?: string[]
  /**
   * What the network is to the federation policy: SIP `federation`, `xmpp`,
   * or a `public-provider` (profiles are, by their provider facts).
   */
  networkKind?: 'federation' | 'xmpp' | 'public-provider'
  /** Normalises a network id (bare JID, SIP URI) or throws PARLEY_ERR_ADDRESS_INVALID. */
  normalizeId(id: string): string
  create(ctx: PluginContext, config: Readonly<Static<S>>): Connection
  /**
   * Extra HTTP routes, registered in the plugin's own encapsulated context
   * under `/v1/networks/<name>/`. Each needs an API key with the `admin`
   * scope unless the route declares another in its options
   * (`config: { scope: 'presence:read' }`; see docs/security.md).
   */
  routes?(instance: FastifyInstance, connection: Connection): Promise<void> | void
}

export function definePlugin<S extends TSchema>(
  definition: PluginDefinition<S>,
): PluginDefinition<S> {
  return Object.freeze(definition)
}

/** How Lync treated a public provider's senders (Set-CsPublicProvider -VerificationLevel). */
export const VERIFICATION_LEVELS = [
  'AlwaysVerifiable',
  'AlwaysUnverifiable',
  'UseSourceVerification',
] as const
export type VerificationLevel = (typeof VERIFICATION_LEVELS)[number]

/** A public IM provider's facts, as Lync Server 2013 knew them. */
export interface ProviderFacts {
  displayName: string
  /** Domains whose users the provider hosts, e.g. `aol.com`, `aim.com`. */
  domains: string[]
  /** The provider's federation proxy, e.g. `federation.messenger.msn.com`. */
  proxyFqdn?: string
  verificationLevel: VerificationLevel
  /** The service ended: the host refuses to start it unless the operator sets `allowRetired`. */
  retired?: { on: string; note: string }
}

/**
 * A provider profile: a network of its own (name, capabilities, options)
 * whose connection is the `base` plugin's, configured with the provider's
 * facts. A profile never imports its base: the host loads both and hands the
 * base `baseOptions(config, network)`.
 */
export interface ProfileDefinition<S extends TSchema = TSchema>
  extends Omit<PluginDefinition<S>, 'create' | 'normalizeId' | 'routes'> {
  /** The plugin whose connection this profile configures, e.g. `sip`. */
  base: string
  provider: ProviderFacts
  /** The base plugin's options for this profile's (validated) options. */
  baseOptions(config: Readonly<Static<S>>, network: string): Record<string, unknown>
}

export function defineProfile<S extends TSchema>(
  definition: ProfileDefinition<S>,
): ProfileDefinition<S> {
  return Object.freeze(definition)
}
