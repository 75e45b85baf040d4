/**
 * `decide(policy, request)`: may this traffic cross the edge? Lync Server
 * 2013's access model as one pure function. Every decision names the rule
 * that decided it and carries the trail of rules checked before it, so
 * `POST /v1/policy/explain` can show it as it is.
 *
 * Rule order (the first rule that refuses decides; see docs/policy.md):
 *  1. `request.invalid`            addresses unparsable, or not on `network`
 *  2. `network-kind.unknown`       no network kind and no provider facts
 *  3. `blocked-domain`             the remote domain is blocked (every network)
 *  4. `edge.allowFederatedUsers`   off: nothing crosses the edge
 *  5. `edge.allowPublicProviders`  off: no public provider (public providers only)
 *  6. `policy:<name>.<flag>`       the identity's external access policy (its own,
 *                                  else `global`) lacks `federation` / `publicCloud`
 *                                  / `xmpp`, or `publicCloudAudioVideo` for a call
 *                                  through a public provider
 *  7. the entry: federation: `allowed-domain` (listed), `edge.partnerDiscovery`
 *     (discovery on) or `unlisted-domain` (refused); public provider:
 *     `provider.none`, `provider:<name>.enabled`; XMPP: `xmpp-partner.none`,
 *     `xmpp-partner:<domain>.tls` (TLS Required, the stream is not encrypted)
 *  8. `unverified-stranger`        inbound from an unverified provider or partner,
 *                                  and the sender is not a contact
 * Allowed: the rule is the entry that let it through (`allowed-domain`,
 * `edge.partnerDiscovery`, `provider:<name>`, `xmpp-partner:<domain>`), or
 * `unverified-contact` when an unverified source got through as a contact.
 */
import { type Address, parseAddress } from '../contract/index.js'
import {
  type AccessFlag,
  DIRECTIONS,
  type ExternalAccessPolicy,
  GLOBAL_POLICY,
  NETWORK_KINDS,
  type NetworkKind,
  negotiationOf,
  type Policy,
  type PolicyRequest,
  type PublicProvider,
  partnerDomains,
  TRAFFIC_KINDS,
  type XmppPartner,
} from './model.js'

/** The fixed rule names. Entry rules add a name: `provider:<name>`, `policy:<name>.<flag>`. */
export const RULES = {
  requestInvalid: 'request.invalid',
  networkKindUnknown: 'network-kind.unknown',
  blockedDomain: 'blocked-domain',
  edgeFederatedUsers: 'edge.allowFederatedUsers',
  edgePublicProviders: 'edge.allowPublicProviders',
  edgePartnerDiscovery: 'edge.partnerDiscovery',
  allowedDomain: 'allowed-domain',
  unlistedDomain: 'unlisted-domain',
  providerNone: 'provider.none',
  partnerNone: 'xmpp-partner.none',
  unverifiedStranger: 'unverified-stranger',
  unverifiedContact: 'unverified-contact',
} as const

/** `policy:global.federation`, `policy:xmpp:alice@example.org.publicCloud`. */
export const policyRule = (name: string, flag: AccessFlag) => `policy:${name}.${flag}`
export const providerRule = (name: string) => `provider:${name}`
export const partnerRule = (domain: string) => `xmpp-partner:${domain}`

export interface Step {
  rule: string
  pass: boolean
  note: string
}

export interface Decision {
  allow: boolean
  /** The rule that decided. */
  rule: string
  /** One sentence saying why, naming the domain, identity, flag or entry. */
  reason: string
  /** Every rule checked, in order, ending with the deciding one. */
  trail: Step[]
  /** The network kind the decision used, when known. */
  networkKind?: NetworkKind
}

const COMPILED: unique symbol = Symbol('parley.policy.compiled')

/** A policy indexed for decisions. Build it once per policy version with `compilePolicy`. */
export interface CompiledPolicy {
  readonly [COMPILED]: true
  readonly policy: Policy
  readonly blocked: ReadonlySet<string>
  readonly allowed: ReadonlySet<string>
  readonly access: ReadonlyMap<string, ExternalAccessPolicy>
  readonly providersByNetwork: ReadonlyMap<string, PublicProvider>
  readonly providersByFqdn: ReadonlyMap<string, PublicProvider>
  readonly partners: ReadonlyMap<string, XmppPartner>
}

/**
 * Indexes a (validated) policy. The first entry wins where a policy that
 * failed validation has duplicates. The policy is read once: a later change
 * to the object needs a new compiled policy.
 */
export function compilePolicy(policy: Policy): CompiledPolicy {
  const lower = (d: string) => d.toLowerCase()
  const first = <K, V>(pairs: Array<[K, V]>) => {
    const map = new Map<K, V>()
    for (const [k, v] of pairs) if (!map.has(k)) map.set(k, v)
    return map
  }
  return Object.freeze({
    [COMPILED]: true as const,
    policy,
    blocked: new Set(policy.blockedDomains.map(lower)),
    allowed: new Set(policy.allowedDomains.map(lower)),
    access: first(policy.externalAccessPolicies.map((p) => [p.name, p])),
    providersByNetwork: first(policy.publicProviders.map((p) => [p.network, p])),
    providersByFqdn: first(policy.publicProviders.map((p) => [lower(p.proxyFqdn), p])),
    partners: first(
      policy.xmppPartners.flatMap((p) =>
        partnerDomains(p).map((d): [string, XmppPartner] => [d, p]),
      ),
    ),
  })
}

function isCompiled(value: Policy | CompiledPolicy): value is CompiledPolicy {
  return (value as Partial<CompiledPolicy>)[COMPILED] === true
}

/** The policy flag a network kind needs. */
const FLAG: Record<NetworkKind, AccessFlag> = {
  federation: 'federation',
  'public-provider': 'publicCloud',
  xmpp: 'xmpp',
}

const KIND_LABEL: Record<NetworkKind, string> = {
  federation: 'SIP federation',
  'public-provider': 'public IM provider',
  xmpp: 'XMPP federation',
}

/** The identity's external access policy: its own, else the global one, else none (all off). */
export function accessPolicyFor(
  policy: Policy | CompiledPolicy,
  identity: string,
): ExternalAccessPolicy | undefined {
  const compiled = isCompiled(policy) ? policy : compilePolicy(policy)
  return compiled.access.get(identity) ?? compiled.access.get(GLOBAL_POLICY)
}

/** The XMPP partner entry covering `domain`, if any. */
export function xmppPartnerFor(
  policy: Policy | CompiledPolicy,
  domain: string,
): XmppPartner | undefined {
  const compiled = isCompiled(policy) ? policy : compilePolicy(policy)
  return compiled.partners.get(domain.toLowerCase())
}

/** Decides one request. Pass a `CompiledPolicy` on a hot path; a plain policy is compiled per call. */
export function decide(policy: Policy | CompiledPolicy, request: PolicyRequest): Decision {
  const p = isCompiled(policy) ? policy : compilePolicy(policy)
  const trail: Step[] = []
  let networkKind: NetworkKind | undefined
  const pass = (rule: string, note: string) => {
    trail.push({ rule, pass: true, note })
  }
  const done = (allow: boolean, rule: string, reason: string): Decision => {
    if (trail.at(-1)?.rule === rule) trail.pop()
    trail.push({ rule, pass: allow, note: reason })
    return networkKind
      ? { allow, rule, reason, trail, networkKind }
      : { allow, rule, reason, trail }
  }
  const deny = (rule: string, reason: string) => done(false, rule, reason)

  // 1. The request itself (it may come from a REST body: checked, never trusted).
  if (!DIRECTIONS.includes(request.direction) || !TRAFFIC_KINDS.includes(request.kind)) {
    return deny(
      RULES.requestInvalid,
      `unknown direction '${String(request.direction)}' or kind '${String(request.kind)}'`,
    )
  }
  let remote: Address
  let identity: Address
  try {
    remote = parseAddress(request.remote)
    identity = parseAddress(request.identity)
  } catch (error) {
    return deny(RULES.requestInvalid, `unusable address: ${(error as Error).message}`)
  }
  if (remote.network !== request.network || identity.network !== request.network) {
    return deny(
      RULES.requestInvalid,
      `'${request.remote}' and '${request.identity}' must both be on network '${request.network}'`,
    )
  }
  if (remote.domain === '') {
    return deny(RULES.requestInvalid, `'${request.remote}' has no domain to check`)
  }
  const domain = remote.domain
  const from = request.direction === 'inbound' ? request.remote : request.identity
  const to = request.direction === 'inbound' ? request.identity : request.remote
  const what = `${request.kind} ${from} -> ${to}`

  // 2. What the network is: given, or a public provider's when provider facts come with it.
  const declared = request.networkKind ?? (request.provider ? 'public-provider' : undefined)
  networkKind = NETWORK_KINDS.includes(declared as NetworkKind) ? declared : undefined
  if (!networkKind) {
    return deny(
      RULES.networkKindUnknown,
      `network '${request.network}' has no declared kind (federation, public-provider or xmpp): refused rather than guessed`,
    )
  }
  const kind = networkKind

  // 3. Blocked domains: every network, both directions, before anything else.
  if (p.blocked.has(domain)) {
    return deny(RULES.blockedDomain, `${what}: domain '${domain}' is blocked`)
  }
  pass(RULES.blockedDomain, `'${domain}' is not blocked`)

  // 4-5. The edge.
  const { edge } = p.policy
  if (!edge.allowFederatedUsers) {
    return deny(
      RULES.edgeFederatedUsers,
      `${what}: the edge does not allow federated users (federation, XMPP and public providers are off)`,
    )
  }
  pass(RULES.edgeFederatedUsers, 'the edge allows federated users')
  if (kind === 'public-provider') {
    if (!edge.allowPublicProviders) {
      return deny(RULES.edgePublicProviders, `${what}: the edge does not allow public IM providers`)
    }
    pass(RULES.edgePublicProviders, 'the edge allows public IM providers')
  }

  // 6. The identity's external access policy.
  const access = p.access.get(request.identity) ?? p.access.get(GLOBAL_POLICY)
  const accessName = access?.name ?? GLOBAL_POLICY
  const source =
    access === undefined
      ? "no external access policy (not even 'global')"
      : access.name === GLOBAL_POLICY
        ? 'the global external access policy'
        : `${request.identity}'s own external access policy`
  const flag = FLAG[kind]
  if (!access?.[flag]) {
    return deny(
      policyRule(accessName, flag),
      `${what}: ${source} does not enable ${flag} (${KIND_LABEL[kind]})`,
    )
  }
  pass(policyRule(accessName, flag), `${source} enables ${flag}`)
  if (kind === 'public-provider' && request.kind === 'call') {
    if (!access.publicCloudAudioVideo) {
      return deny(
        policyRule(accessName, 'publicCloudAudioVideo'),
        `${what}: ${source} does not enable publicCloudAudioVideo (calls with public IM providers)`,
      )
    }
    pass(policyRule(accessName, 'publicCloudAudioVideo'), `${source} enables publicCloudAudioVideo`)
  }

  // 7. The provider, partner or domain entry; and whether its source is verified.
  let entryRule: string
  let verified: boolean
  let verification = ''
  if (kind === 'federation') {
    verified = true
    if (p.allowed.has(domain)) {
      entryRule = RULES.allowedDomain
      pass(entryRule, `'${domain}' is on the allowed domains list`)
    } else if (edge.partnerDiscovery) {
      entryRule = RULES.edgePartnerDiscovery
      pass(entryRule, `'${domain}' is not listed, and partner discovery is on`)
    } else {
      return deny(
        RULES.unlistedDomain,
        `${what}: '${domain}' is not on the allowed domains list, and partner discovery is off`,
      )
    }
  } else if (kind === 'public-provider') {
    const fqdn = request.provider?.proxyFqdn?.toLowerCase()
    const entry =
      p.providersByNetwork.get(request.network) ??
      (fqdn === undefined ? undefined : p.providersByFqdn.get(fqdn))
    if (!entry) {
      return deny(
        RULES.providerNone,
        `${what}: no public provider entry for network '${request.network}'`,
      )
    }
    if (!entry.enabled) {
      return deny(
        `${providerRule(entry.name)}.enabled`,
        `${what}: provider '${entry.name}' is disabled`,
      )
    }
    entryRule = providerRule(entry.name)
    pass(entryRule, `provider '${entry.name}' is enabled (${entry.verificationLevel})`)
    verified =
      entry.verificationLevel === 'AlwaysVerifiable' ||
      (entry.verificationLevel === 'UseSourceVerification' && request.sourceVerified === true)
    verification =
      entry.verificationLevel === 'UseSourceVerification'
        ? `provider '${entry.name}' uses source verification and did not mark the sender verified`
        : `provider '${entry.name}' is AlwaysUnverifiable`
  } else {
    const partner = p.partners.get(domain)
    if (!partner) {
      return deny(RULES.partnerNone, `${what}: '${domain}' is not an XMPP partner`)
    }
    entryRule = partnerRule(partner.domain.toLowerCase())
    if (negotiationOf(partner.tls) === 'Required' && request.transportSecure === false) {
      return deny(
        `${entryRule}.tls`,
        `${what}: XMPP partner '${partner.domain}' requires TLS, and the stream carrying it is not encrypted`,
      )
    }
    pass(
      entryRule,
      `'${domain}' is covered by XMPP partner '${partner.domain}' (${partner.partnerType})`,
    )
    verified = partner.partnerType !== 'PublicUnverified'
    verification = `XMPP partner '${partner.domain}' is PublicUnverified`
  }

  // 8. An unverified source reaches an identity only as one of its contacts.
  if (!verified && request.direction === 'inbound') {
    if (!request.remoteIsContact) {
      return deny(
        RULES.unverifiedStranger,
        `${what}: ${verification}, and ${request.remote} is not a contact of ${request.identity}`,
      )
    }
    return done(
      true,
      RULES.unverifiedContact,
      `${what}: ${verification}, but ${request.remote} is a contact of ${request.identity}`,
    )
  }
  return done(true, entryRule, `${what}: allowed by ${entryRule}`)
}
