/**
 * The federation access policy, as Lync Server 2013 modelled it, in
 * Parley's words. Pure data: TypeBox schemas and their types, Lync's
 * defaults, and a few helpers. Validation is in `validate.ts`, decisions in
 * `decide.ts`; docs/policy.md describes the whole model and its sources.
 *
 * Sources (Microsoft documentation for Lync Server 2013):
 * - Access Edge configuration (TechNet JJ552443, "Manage Access Edge
 *   Configuration for your organization"): "Enable federation and public IM
 *   connectivity" gates SIP and XMPP federation; "Enable partner domain
 *   discovery" off means only the allowed domains list is reachable.
 * - Set-CsAccessEdgeConfiguration: AllowFederatedUsers, EnablePartnerDiscovery,
 *   MarkSourceVerifiableOnOutgoingMessages (defaults False, False, True).
 * - New-CsPublicProvider / Set-CsPublicProvider: Identity and ProxyFqdn unique,
 *   ProxyFqdn and Enabled required at creation, VerificationLevel
 *   (default AlwaysVerifiable); Set-CsPublicProvider has no -ProxyFqdn.
 * - Set-CsExternalAccessPolicy: EnableFederationAccess, EnablePublicCloudAccess,
 *   EnablePublicCloudAudioVideoAccess, EnableXmppAccess (each defaults to
 *   False; a per-user policy applies instead of the global one).
 * - New-CsXmppAllowedPartner: Domain, AdditionalDomains, PartnerType (default
 *   PublicUnverified), TlsNegotiation and SaslNegotiation (Required | Optional
 *   | NotSupported, default Required), SupportDialbackNegotiation (default True).
 */
import { type Static, Type } from 'typebox'
import type { AddressString, ProviderFacts, VerificationLevel } from '../contract/index.js'

/** What a network is to the policy. The caller says which, from the plugin's definition. */
export const NETWORK_KINDS = ['federation', 'public-provider', 'xmpp'] as const
export type NetworkKind = (typeof NETWORK_KINDS)[number]

export const DIRECTIONS = ['inbound', 'outbound'] as const
export type Direction = (typeof DIRECTIONS)[number]

/** What crosses the edge. `subscription` is a contact (presence subscription) request. */
export const TRAFFIC_KINDS = ['message', 'presence', 'subscription', 'call'] as const
export type TrafficKind = (typeof TRAFFIC_KINDS)[number]

/** Lync's XMPP partner types (New-CsXmppAllowedPartner -PartnerType). */
export const PARTNER_TYPES = ['Federated', 'PublicVerified', 'PublicUnverified'] as const
export type PartnerType = (typeof PARTNER_TYPES)[number]

/** Lync's TlsNegotiation / SaslNegotiation values. */
export const NEGOTIATIONS = ['Required', 'Optional', 'NotSupported'] as const
export type Negotiation = (typeof NEGOTIATIONS)[number]

/** A DNS name (no trailing dot). Compared case-insensitively everywhere. */
export const DomainSchema = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern:
    '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$',
})

export const EdgeSettingsSchema = Type.Object(
  {
    /**
     * Lync's AllowFederatedUsers ("Enable federation and public IM
     * connectivity"): off, nothing crosses the edge (SIP federation, XMPP,
     * public providers).
     */
    allowFederatedUsers: Type.Boolean({ default: false }),
    /**
     * Parley's switch for all public IM providers at once. Lync had no
     * separate edge flag (the one above covered public IM connectivity);
     * the per-user EnablePublicCloudAccess is `publicCloud` in a policy.
     */
    allowPublicProviders: Type.Boolean({ default: false }),
    /** Lync's EnablePartnerDiscovery: off, only allowed domains are reachable over federation. */
    partnerDiscovery: Type.Boolean({ default: false }),
    /** Lync's MarkSourceVerifiableOnOutgoingMessages: outgoing traffic is marked verifiable. */
    outgoingVerifiable: Type.Boolean({ default: true }),
  },
  { additionalProperties: false, default: {} },
)
export type EdgeSettings = Static<typeof EdgeSettingsSchema>

export const PublicProviderSchema = Type.Object(
  {
    /** Lync's Identity, e.g. `WindowsLive`. Unique. */
    name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]*$' }),
    /** The Parley network (provider profile) that carries this provider's traffic. */
    network: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }),
    /** The provider's federation proxy. Unique; cannot be edited in place. */
    proxyFqdn: DomainSchema,
    /** Required, as New-CsPublicProvider required -Enabled. */
    enabled: Type.Boolean(),
    verificationLevel: Type.Union(
      [
        Type.Literal('AlwaysVerifiable'),
        Type.Literal('AlwaysUnverifiable'),
        Type.Literal('UseSourceVerification'),
      ],
      { default: 'AlwaysVerifiable' },
    ),
  },
  { additionalProperties: false },
)
export type PublicProvider = Static<typeof PublicProviderSchema>

/** `global`, or the address (`network:id`) of one Parley identity. */
export const GLOBAL_POLICY = 'global'

export const ExternalAccessPolicySchema = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 1024,
      pattern: '^(global|[a-z][a-z0-9-]{0,31}:.+)$',
    }),
    /** EnableFederationAccess: SIP federation. */
    federation: Type.Boolean({ default: false }),
    /** EnablePublicCloudAccess: public IM providers. */
    publicCloud: Type.Boolean({ default: false }),
    /** EnablePublicCloudAudioVideoAccess: calls with public IM providers (needs `publicCloud` too). */
    publicCloudAudioVideo: Type.Boolean({ default: false }),
    /** EnableXmppAccess: XMPP partners. */
    xmpp: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
)
export type ExternalAccessPolicy = Static<typeof ExternalAccessPolicySchema>
export type AccessFlag = Exclude<keyof ExternalAccessPolicy, 'name'>

/**
 * TLS or SASL negotiation: Lync's three values, or a boolean (`true` is
 * `Required`, Lync's default; `false` is `NotSupported`).
 */
export const NegotiationSchema = Type.Union(
  [
    Type.Boolean(),
    Type.Literal('Required'),
    Type.Literal('Optional'),
    Type.Literal('NotSupported'),
  ],
  { default: 'Required' },
)

export const XmppPartnerSchema = Type.Object(
  {
    /** Primary domain. Subdomains are not implied: list them in `additionalDomains`, as Lync required. */
    domain: DomainSchema,
    additionalDomains: Type.Array(DomainSchema, { default: [], maxItems: 256 }),
    partnerType: Type.Union(
      [Type.Literal('Federated'), Type.Literal('PublicVerified'), Type.Literal('PublicUnverified')],
      { default: 'PublicUnverified' },
    ),
    tls: NegotiationSchema,
    sasl: NegotiationSchema,
    dialback: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
)
export type XmppPartner = Static<typeof XmppPartnerSchema>

export const PolicySchema = Type.Object(
  {
    edge: EdgeSettingsSchema,
    publicProviders: Type.Array(PublicProviderSchema, { default: [], maxItems: 256 }),
    /** Federated (SIP) domains reachable even with partner discovery off. */
    allowedDomains: Type.Array(DomainSchema, { default: [], maxItems: 10_000 }),
    /** Domains never reachable, on any network. Disjoint from `allowedDomains`. */
    blockedDomains: Type.Array(DomainSchema, { default: [], maxItems: 10_000 }),
    externalAccessPolicies: Type.Array(ExternalAccessPolicySchema, {
      default: [],
      maxItems: 100_000,
    }),
    xmppPartners: Type.Array(XmppPartnerSchema, { default: [], maxItems: 1_000 }),
  },
  { additionalProperties: false },
)
export type Policy = Static<typeof PolicySchema>

/**
 * Lync's out-of-the-box state: nothing crosses the edge. The global external
 * access policy is present, with every flag off.
 */
export function defaultPolicy(): Policy {
  return {
    edge: {
      allowFederatedUsers: false,
      allowPublicProviders: false,
      partnerDiscovery: false,
      outgoingVerifiable: true,
    },
    publicProviders: [],
    allowedDomains: [],
    blockedDomains: [],
    externalAccessPolicies: [
      {
        name: GLOBAL_POLICY,
        federation: false,
        publicCloud: false,
        publicCloudAudioVideo: false,
        xmpp: false,
      },
    ],
    xmppPartners: [],
  }
}

/** `true` -> `Required`, `false` -> `NotSupported`; Lync's values pass through. */
export function negotiationOf(value: boolean | Negotiation): Negotiation {
  if (value === true) return 'Required'
  if (value === false) return 'NotSupported'
  return value
}

/** The domains an XMPP partner entry covers, lower-cased. */
export function partnerDomains(partner: Pick<XmppPartner, 'domain' | 'additionalDomains'>) {
  return [partner.domain, ...partner.additionalDomains].map((d) => d.toLowerCase())
}

/**
 * A public provider entry seeded from a provider profile's facts (the
 * profile's `provider` in its definition). The operator's entry governs
 * afterwards; the facts are only the starting point.
 */
export function providerEntryFromFacts(
  network: string,
  facts: Pick<ProviderFacts, 'displayName' | 'proxyFqdn' | 'verificationLevel'>,
  enabled = true,
): PublicProvider | undefined {
  if (!facts.proxyFqdn) return undefined
  return {
    name: facts.displayName.replace(/[^A-Za-z0-9 ._-]/g, '').trim() || network,
    network,
    proxyFqdn: facts.proxyFqdn,
    enabled,
    verificationLevel: facts.verificationLevel,
  }
}

/** The provider facts a decision may use (a profile's `ProviderFacts`, or part of them). */
export type RequestProvider = Partial<
  Pick<ProviderFacts, 'displayName' | 'domains' | 'proxyFqdn' | 'verificationLevel'>
>

/** A `PolicyRequest` as a REST body may carry it (`POST /v1/policy/explain`). */
export const PolicyRequestSchema = Type.Object(
  {
    direction: Type.Union([Type.Literal('inbound'), Type.Literal('outbound')]),
    network: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }),
    networkKind: Type.Optional(
      Type.Union([
        Type.Literal('federation'),
        Type.Literal('public-provider'),
        Type.Literal('xmpp'),
      ]),
    ),
    remote: Type.String({ minLength: 3, maxLength: 1024 }),
    identity: Type.String({ minLength: 3, maxLength: 1024 }),
    kind: Type.Union([
      Type.Literal('message'),
      Type.Literal('presence'),
      Type.Literal('subscription'),
      Type.Literal('call'),
    ]),
    remoteIsContact: Type.Boolean({ default: false }),
    sourceVerified: Type.Optional(Type.Boolean()),
    transportSecure: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

/** One question put to the policy: may this traffic cross the edge? */
export interface PolicyRequest {
  direction: Direction
  /** The Parley network the traffic crosses (plugin or profile name). */
  network: string
  /**
   * What that network is to the policy, from the plugin's definition. When
   * absent, a request with `provider` facts is a public provider's; one with
   * neither is refused (`network-kind.unknown`): the policy never guesses
   * from a plugin's name.
   */
  networkKind?: NetworkKind
  /** The party outside: `network:id`. */
  remote: AddressString
  /** The Parley identity inside: `network:id`. */
  identity: AddressString
  kind: TrafficKind
  /** The remote party is already a contact of `identity`. */
  remoteIsContact: boolean
  /** The provider's facts, for a public provider's traffic. */
  provider?: RequestProvider
  /**
   * For a provider set to UseSourceVerification: the provider marked this
   * inbound traffic's source as verified. Absent counts as not verified.
   */
  sourceVerified?: boolean
  /**
   * Whether the stream carrying the traffic is encrypted (the plugin's
   * `transportSecure()`). `false` refuses an XMPP partner whose `tls` is
   * Required; absent (unknown) does not.
   */
  transportSecure?: boolean
}

export type { VerificationLevel }
