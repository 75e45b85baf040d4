/**
 * Whole-policy validation: the schema first, then what a schema cannot say
 * (uniqueness, disjoint lists, Lync's XMPP negotiation matrix). Returns
 * findings with stable codes; throws nothing. `policyError()` turns the
 * errors into a Parley error for a route to throw.
 */
import { Value } from 'typebox/value'
import { parleyError, parseAddress } from '../contract/index.js'
import {
  GLOBAL_POLICY,
  type Negotiation,
  negotiationOf,
  type Policy,
  PolicySchema,
  type PublicProvider,
  partnerDomains,
  type XmppPartner,
} from './model.js'

export type Severity = 'error' | 'warning'

/**
 * Every finding code, its severity and what kind of refusal an error is:
 * `conflict` (the policy contradicts itself or an existing entry: HTTP 409
 * once the error table has a code for it) or `invalid` (HTTP 400).
 */
export const FINDINGS = {
  'policy.schema': { severity: 'error', refusal: 'invalid' },
  'policy.duplicate-name': { severity: 'error', refusal: 'conflict' },
  'policy.invalid-name': { severity: 'error', refusal: 'invalid' },
  'policy.no-global': { severity: 'warning' },
  'policy.audio-video-without-public-cloud': { severity: 'warning' },
  'provider.duplicate-name': { severity: 'error', refusal: 'conflict' },
  'provider.duplicate-proxy-fqdn': { severity: 'error', refusal: 'conflict' },
  'provider.duplicate-network': { severity: 'error', refusal: 'conflict' },
  'provider.name-immutable': { severity: 'error', refusal: 'conflict' },
  'provider.proxy-fqdn-immutable': { severity: 'error', refusal: 'conflict' },
  'domain.conflict': { severity: 'error', refusal: 'conflict' },
  'domain.duplicate': { severity: 'warning' },
  'xmpp-partner.duplicate-domain': { severity: 'error', refusal: 'conflict' },
  'xmpp-partner.blocked-domain': { severity: 'warning' },
  'xmpp.sasl-requires-tls': { severity: 'error', refusal: 'invalid' },
  'xmpp.sasl-or-dialback': { severity: 'error', refusal: 'invalid' },
  'xmpp.dialback-unused': { severity: 'warning' },
  'xmpp.tls-optional-with-sasl': { severity: 'warning' },
  'edge.public-providers-without-federation': { severity: 'warning' },
} as const satisfies Record<string, { severity: Severity; refusal?: 'conflict' | 'invalid' }>

export type FindingCode = keyof typeof FINDINGS

export interface Finding {
  code: FindingCode
  severity: Severity
  /** Where, as a dotted path: `xmppPartners[2].sasl`, `blockedDomains[0]`. */
  path: string
  message: string
}

export interface PolicyValidation {
  ok: boolean
  errors: Finding[]
  warnings: Finding[]
  /** The policy with Lync's defaults filled in; only when `ok`. */
  policy?: Policy
}

function finding(code: FindingCode, path: string, message: string): Finding {
  return { code, severity: FINDINGS[code].severity, path, message }
}

function split(findings: Finding[], policy?: Policy): PolicyValidation {
  const errors = findings.filter((f) => f.severity === 'error')
  const warnings = findings.filter((f) => f.severity === 'warning')
  const ok = errors.length === 0
  return ok && policy ? { ok, errors, warnings, policy } : { ok, errors, warnings }
}

/** `/xmppPartners/0/tls` -> `xmppPartners[0].tls`. */
function dotted(pointer: string): string {
  let out = ''
  for (const part of pointer.split('/').filter(Boolean)) {
    out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part
  }
  return out || '(policy)'
}

/**
 * Validates a whole policy. `input` is untrusted (a REST body, a config
 * file): the schema is checked first (after filling Lync's defaults), and
 * only a policy of the right shape is checked further.
 */
export function validatePolicy(input: unknown): PolicyValidation {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return split([finding('policy.schema', '(policy)', 'the policy must be an object')])
  }
  const filled = Value.Default(PolicySchema, structuredClone(input))
  const schemaErrors = Value.Errors(PolicySchema, filled)
  if (schemaErrors.length > 0) return split(describeSchemaErrors(schemaErrors))
  const policy = filled as Policy
  return split(checkPolicy(policy), policy)
}

interface SchemaError {
  keyword: string
  instancePath: string
  params: Record<string, unknown>
  message: string
}

/**
 * One finding per place (at most 20): a union's branches report the same
 * place several times, and an unknown property is reported on the property
 * and on its object.
 */
function describeSchemaErrors(errors: readonly SchemaError[]): Finding[] {
  const byPath = new Map<string, SchemaError[]>()
  for (const e of errors) {
    if (e.keyword === 'boolean') continue // `additionalProperties: false`, reported on the object
    const list = byPath.get(e.instancePath) ?? []
    list.push(e)
    byPath.set(e.instancePath, list)
  }
  const out: Finding[] = []
  for (const [pointer, list] of byPath) {
    if (out.length >= 20) break
    const path = dotted(pointer)
    const extra = list.find((e) => e.keyword === 'additionalProperties')
    const anyOf = list.some((e) => e.keyword === 'anyOf')
    let message: string
    if (extra) {
      const names = (extra.params.additionalProperties as string[] | undefined) ?? []
      message = `unknown propert${names.length === 1 ? 'y' : 'ies'} ${names.map((n) => `'${n}'`).join(', ')}`
    } else if (anyOf) {
      const options = list.flatMap((e) =>
        e.keyword === 'type'
          ? [String(e.params.type)]
          : e.keyword === 'const'
            ? [JSON.stringify(e.params.allowedValue)]
            : [],
      )
      message = `must be one of ${options.join(', ')}`
    } else message = list[0]?.message ?? 'invalid'
    out.push(finding('policy.schema', path, `${path}: ${message}`))
  }
  return out
}

/** The checks beyond the schema, on a policy of the right shape. */
export function checkPolicy(policy: Policy): Finding[] {
  return [
    ...checkEdge(policy),
    ...checkProviders(policy.publicProviders),
    ...checkDomains(policy),
    ...checkAccessPolicies(policy),
    ...checkPartners(policy),
  ]
}

function checkEdge(policy: Policy): Finding[] {
  const { edge } = policy
  if (edge.allowPublicProviders && !edge.allowFederatedUsers) {
    return [
      finding(
        'edge.public-providers-without-federation',
        'edge.allowPublicProviders',
        'allowPublicProviders has no effect while allowFederatedUsers is off (Lync: "Enable federation and public IM connectivity")',
      ),
    ]
  }
  return []
}

/** Reports the second and later entries whose `key` was already seen. */
function duplicates<T>(
  items: readonly T[],
  key: (item: T) => string,
  report: (item: T, index: number, first: number) => Finding,
): Finding[] {
  const seen = new Map<string, number>()
  const out: Finding[] = []
  items.forEach((item, index) => {
    const k = key(item)
    const first = seen.get(k)
    if (first === undefined) seen.set(k, index)
    else out.push(report(item, index, first))
  })
  return out
}

function checkProviders(providers: readonly PublicProvider[]): Finding[] {
  // Lync: "Identities must be unique", "Proxy FQDNs must be unique" (New-CsPublicProvider).
  return [
    ...duplicates(
      providers,
      (p) => p.name.toLowerCase(),
      (p, i, first) =>
        finding(
          'provider.duplicate-name',
          `publicProviders[${i}].name`,
          `provider name '${p.name}' is already used by publicProviders[${first}]`,
        ),
    ),
    ...duplicates(
      providers,
      (p) => p.proxyFqdn.toLowerCase(),
      (p, i, first) =>
        finding(
          'provider.duplicate-proxy-fqdn',
          `publicProviders[${i}].proxyFqdn`,
          `proxy FQDN '${p.proxyFqdn}' is already used by publicProviders[${first}]`,
        ),
    ),
    // Parley's own rule: a decision finds a provider by its network, so one network, one entry.
    ...duplicates(
      providers,
      (p) => p.network,
      (p, i, first) =>
        finding(
          'provider.duplicate-network',
          `publicProviders[${i}].network`,
          `network '${p.network}' already carries publicProviders[${first}]`,
        ),
    ),
  ]
}

function checkDomains(policy: Policy): Finding[] {
  const out: Finding[] = []
  for (const list of ['allowedDomains', 'blockedDomains'] as const) {
    out.push(
      ...duplicates(
        policy[list],
        (d) => d.toLowerCase(),
        (d, i, first) =>
          finding(
            'domain.duplicate',
            `${list}[${i}]`,
            `'${d}' is listed twice in ${list} (also [${first}])`,
          ),
      ),
    )
  }
  const blocked = new Set(policy.blockedDomains.map((d) => d.toLowerCase()))
  const reported = new Set<string>()
  policy.allowedDomains.forEach((d, i) => {
    const key = d.toLowerCase()
    if (blocked.has(key) && !reported.has(key)) {
      reported.add(key)
      out.push(
        finding(
          'domain.conflict',
          `allowedDomains[${i}]`,
          `'${key}' is both allowed and blocked: the lists must be disjoint`,
        ),
      )
    }
  })
  return out
}

function checkAccessPolicies(policy: Policy): Finding[] {
  const out: Finding[] = [
    ...duplicates(
      policy.externalAccessPolicies,
      (p) => p.name,
      (p, i, first) =>
        finding(
          'policy.duplicate-name',
          `externalAccessPolicies[${i}].name`,
          `external access policy '${p.name}' is already defined at [${first}]`,
        ),
    ),
  ]
  policy.externalAccessPolicies.forEach((p, i) => {
    if (p.name !== GLOBAL_POLICY) {
      try {
        parseAddress(p.name)
      } catch (error) {
        out.push(
          finding(
            'policy.invalid-name',
            `externalAccessPolicies[${i}].name`,
            `'${p.name}' is neither 'global' nor an identity address: ${(error as Error).message}`,
          ),
        )
      }
    }
    // decide() needs both flags for a call through a public provider: A/V alone reaches no one.
    if (p.publicCloudAudioVideo && !p.publicCloud) {
      out.push(
        finding(
          'policy.audio-video-without-public-cloud',
          `externalAccessPolicies[${i}].publicCloudAudioVideo`,
          `policy '${p.name}': publicCloudAudioVideo has no effect without publicCloud`,
        ),
      )
    }
  })
  if (!policy.externalAccessPolicies.some((p) => p.name === GLOBAL_POLICY)) {
    out.push(
      finding(
        'policy.no-global',
        'externalAccessPolicies',
        "no 'global' external access policy: identities without their own policy get none of the flags (Lync's default global policy)",
      ),
    )
  }
  return out
}

function checkPartners(policy: Policy): Finding[] {
  const out: Finding[] = []
  const owner = new Map<string, number>()
  const blocked = new Set(policy.blockedDomains.map((d) => d.toLowerCase()))
  policy.xmppPartners.forEach((partner, i) => {
    for (const domain of new Set(partnerDomains(partner))) {
      const first = owner.get(domain)
      if (first !== undefined) {
        out.push(
          finding(
            'xmpp-partner.duplicate-domain',
            `xmppPartners[${i}]`,
            `XMPP domain '${domain}' is already covered by xmppPartners[${first}]`,
          ),
        )
      } else owner.set(domain, i)
      if (blocked.has(domain)) {
        out.push(
          finding(
            'xmpp-partner.blocked-domain',
            `xmppPartners[${i}]`,
            `XMPP domain '${domain}' is blocked: the block wins over the partner entry`,
          ),
        )
      }
    }
    out.push(
      ...xmppNegotiation(partner).findings.map((f) => ({
        ...f,
        path: `xmppPartners[${i}].${f.path}`,
      })),
    )
  })
  return out
}

/** How two XMPP servers may authenticate each other (the matrix's "expected authentication method"). */
export const AUTH_METHODS = ['SASL over TLS', 'TLS Dialback', 'TCP Dialback'] as const
export type AuthMethod = (typeof AUTH_METHODS)[number]

export interface NegotiationOutcome {
  tls: Negotiation
  sasl: Negotiation
  dialback: boolean
  /** The methods Lync expected for this combination; empty: the partner is unreachable. */
  methods: AuthMethod[]
  /** Errors and warnings, with paths relative to the partner (`tls`, `sasl`, `dialback`). */
  findings: Finding[]
}

/**
 * Lync Server 2013's XMPP negotiation matrix.
 *
 * Sources (Microsoft, Lync Server 2013 documentation):
 * - "Negotiation settings for XMPP federated partners in Lync Server 2013"
 *   (TechNet JJ552456): the complete 18-row matrix of TLS (Required |
 *   Optional | Not Supported) x SASL (same) x Dialback (True | False), its
 *   expected authentication methods and its warnings; "you cannot have SASL
 *   unless TLS is also available".
 * - "Create or edit XMPP partner configuration in Lync Server 2013" (TechNet
 *   JJ552447): "Any configuration that defines SASL as either required or
 *   optional must have TLS support. When clicking Commit [...] if you have
 *   not set TLS to required or optional, you will be warned that SASL must
 *   have TLS support and your changes are not saved."
 * - New-CsXmppAllowedPartner: the parameters and their defaults.
 *
 * Errors (the configuration is refused):
 * - `xmpp.sasl-requires-tls`: SASL Required or Optional with TLS Not
 *   Supported. The Control Panel refused to save it (JJ552447). The matrix
 *   lists two of these rows (TLS Not Supported, SASL Required/Optional,
 *   Dialback True) as warnings that fall back to TCP Dialback; Parley follows
 *   the Control Panel and refuses them, since SASL could never run.
 * - `xmpp.sasl-or-dialback`: SASL Not Supported and Dialback False (the
 *   matrix: "SASL or Dialback must be enabled", three rows).
 * Warnings (the matrix's):
 * - `xmpp.dialback-unused`: TLS and SASL Required with Dialback True
 *   ("Dialback will not operate if both SASL and TLS are required").
 * - `xmpp.tls-optional-with-sasl`: TLS Optional with SASL Required or
 *   Optional ("SASL requires TLS. Allowing TLS to be optional may result in
 *   failed session negotiations").
 *
 * Expected methods (the matrix's column; the "common" table on the same page
 * adds TCP Dialback to the TLS Required / SASL Optional / Dialback True row,
 * the complete matrix does not, and TLS Required rules plain TCP out):
 * - SASL over TLS when neither TLS nor SASL is Not Supported;
 * - TLS Dialback when Dialback is on, TLS is not Not Supported, and TLS and
 *   SASL are not both Required;
 * - TCP Dialback when Dialback is on and TLS is not Required.
 */
export function xmppNegotiation(
  partner: Pick<XmppPartner, 'tls' | 'sasl' | 'dialback'>,
): NegotiationOutcome {
  const tls = negotiationOf(partner.tls)
  const sasl = negotiationOf(partner.sasl)
  const dialback = partner.dialback
  const methods: AuthMethod[] = []
  if (tls !== 'NotSupported' && sasl !== 'NotSupported') methods.push('SASL over TLS')
  if (dialback && tls !== 'NotSupported' && !(tls === 'Required' && sasl === 'Required')) {
    methods.push('TLS Dialback')
  }
  if (dialback && tls !== 'Required') methods.push('TCP Dialback')

  const findings: Finding[] = []
  if (sasl !== 'NotSupported' && tls === 'NotSupported') {
    findings.push(
      finding(
        'xmpp.sasl-requires-tls',
        'sasl',
        `SASL ${sasl} needs TLS, and TLS is NotSupported: set TLS to Required or Optional, or SASL to NotSupported`,
      ),
    )
  }
  if (sasl === 'NotSupported' && !dialback) {
    findings.push(
      finding(
        'xmpp.sasl-or-dialback',
        'dialback',
        'SASL or dialback must be enabled: with SASL NotSupported and dialback off, no server could authenticate',
      ),
    )
  }
  if (tls === 'Required' && sasl === 'Required' && dialback) {
    findings.push(
      finding(
        'xmpp.dialback-unused',
        'dialback',
        'dialback will not operate when both TLS and SASL are Required',
      ),
    )
  }
  if (tls === 'Optional' && sasl !== 'NotSupported') {
    findings.push(
      finding(
        'xmpp.tls-optional-with-sasl',
        'tls',
        'SASL requires TLS: with TLS Optional, session negotiation may fail',
      ),
    )
  }
  return { tls, sasl, dialback, methods, findings }
}

/**
 * An edit of a public provider, checked as Lync checked it: the proxy FQDN
 * (and the name, Lync's Identity) cannot change in place. Set-CsPublicProvider
 * has no -ProxyFqdn; the provider is removed and created again.
 */
export function checkProviderEdit(old: PublicProvider, next: PublicProvider): PolicyValidation {
  const out: Finding[] = []
  if (old.name !== next.name) {
    out.push(
      finding(
        'provider.name-immutable',
        'name',
        `provider '${old.name}' cannot be renamed to '${next.name}': remove it and create '${next.name}'`,
      ),
    )
  }
  if (old.proxyFqdn.toLowerCase() !== next.proxyFqdn.toLowerCase()) {
    out.push(
      finding(
        'provider.proxy-fqdn-immutable',
        'proxyFqdn',
        `provider '${old.name}': the proxy FQDN cannot be edited in place ('${old.proxyFqdn}' -> '${next.proxyFqdn}'); remove the provider and create it again`,
      ),
    )
  }
  return split(out)
}

/**
 * The error a route throws for a refused policy, its message listing every
 * error with its finding code: PARLEY_ERR_POLICY_CONFLICT (409) when any
 * error contradicts the policy in force or itself (`conflict`), else
 * PARLEY_ERR_VALIDATION (400). `findings` carries the errors for the body.
 */
export function policyError(result: Pick<PolicyValidation, 'errors'>) {
  const text = result.errors.map((e) => `[${e.code}] ${e.message}`).join('; ')
  const refusal = result.errors.some((e) => refusalOf(e.code) === 'conflict')
    ? 'conflict'
    : 'invalid'
  const err = parleyError(
    refusal === 'conflict' ? 'PARLEY_ERR_POLICY_CONFLICT' : 'PARLEY_ERR_VALIDATION',
    text || 'policy refused',
  )
  return Object.assign(err, { findings: result.errors, refusal })
}

/** `conflict` or `invalid` for an error code; undefined for a warning. */
export function refusalOf(code: FindingCode): 'conflict' | 'invalid' | undefined {
  const entry = FINDINGS[code]
  return 'refusal' in entry ? entry.refusal : undefined
}
