/**
 * The whole truth table: edge flags x the identity's external access policy
 * (its own, the global one, or none) x the provider / partner / domain entry
 * x blocked, for each kind of network, in both directions, for every kind of
 * traffic, from a contact and from a stranger. Every row is decided by
 * `decide()` and by the reference below, written from the rules in
 * docs/policy.md and sharing no code with core/policy/decide.ts.
 */
import t, { type Test } from 'tap'
import type {
  Decision,
  Direction,
  NetworkKind,
  Policy,
  PolicyRequest,
  TrafficKind,
  VerificationLevel,
} from '../../../core/policy/index.js'
import { compilePolicy, decide } from '../../../core/policy/index.js'

const DIRS: Direction[] = ['inbound', 'outbound']
const KINDS: TrafficKind[] = ['message', 'presence', 'subscription', 'call']
const BOOLS = [false, true]

/** Network names are arbitrary: the policy must take the kind from the request, not the name. */
const NET = { federation: 'corp-sip', 'public-provider': 'pic-one', xmpp: 'jabber' } as const
const REMOTE_DOMAIN = {
  federation: 'partner.example',
  'public-provider': 'hotmail.example',
  xmpp: 'chat.example',
} as const
const REMOTE_ID = {
  federation: 'sip:bob@partner.example',
  'public-provider': 'sip:bob@hotmail.example',
  xmpp: 'bob@chat.example/phone',
} as const

type Flags = {
  federation?: boolean
  publicCloud?: boolean
  publicCloudAudioVideo?: boolean
  xmpp?: boolean
}
/** `undefined`: no such policy. */
type PolicyChoice = Flags | undefined

interface Row {
  net: NetworkKind
  edgeFederated: boolean
  edgePublic: boolean
  discovery: boolean
  global: PolicyChoice
  own: PolicyChoice
  /** federation: listed in allowedDomains; provider: 'none' | 'disabled' | level; xmpp: 'none' | partner type */
  entry: string
  blocked: boolean
  sourceVerified: boolean | undefined
  direction: Direction
  kind: TrafficKind
  contact: boolean
}

const IDENTITY = (net: NetworkKind) => `${NET[net]}:echo@parley.test`
const REMOTE = (net: NetworkKind) => `${NET[net]}:${REMOTE_ID[net]}`

function policyFor(row: Row): Policy {
  const net = row.net
  const domain = REMOTE_DOMAIN[net]
  const access = (name: string, f: Flags) => ({
    name,
    federation: f.federation ?? false,
    publicCloud: f.publicCloud ?? false,
    publicCloudAudioVideo: f.publicCloudAudioVideo ?? false,
    xmpp: f.xmpp ?? false,
  })
  const policies = []
  if (row.global) policies.push(access('global', row.global))
  if (row.own) policies.push(access(IDENTITY(net), row.own))
  return {
    edge: {
      allowFederatedUsers: row.edgeFederated,
      allowPublicProviders: row.edgePublic,
      partnerDiscovery: row.discovery,
      outgoingVerifiable: true,
    },
    publicProviders:
      net === 'public-provider' && row.entry !== 'none'
        ? [
            {
              name: 'PicOne',
              network: NET['public-provider'],
              proxyFqdn: 'federation.pic-one.example',
              enabled: row.entry !== 'disabled',
              verificationLevel: (row.entry === 'disabled'
                ? 'AlwaysVerifiable'
                : row.entry) as VerificationLevel,
            },
          ]
        : [],
    allowedDomains:
      net === 'federation' && row.entry === 'listed'
        ? [domain, 'other.example']
        : ['other.example'],
    blockedDomains: row.blocked ? ['elsewhere.example', domain] : ['elsewhere.example'],
    externalAccessPolicies: policies,
    xmppPartners:
      net === 'xmpp' && row.entry !== 'none'
        ? [
            {
              domain,
              additionalDomains: [],
              partnerType: row.entry as 'Federated' | 'PublicVerified' | 'PublicUnverified',
              tls: true,
              sasl: true,
              dialback: false,
            },
          ]
        : [],
  }
}

function requestFor(row: Row): PolicyRequest {
  return {
    direction: row.direction,
    network: NET[row.net],
    networkKind: row.net,
    remote: REMOTE(row.net),
    identity: IDENTITY(row.net),
    kind: row.kind,
    remoteIsContact: row.contact,
    ...(row.sourceVerified !== undefined && { sourceVerified: row.sourceVerified }),
  }
}

/**
 * The reference: Access = NOT blocked AND edge AND the policy in effect
 * (the identity's own, else global, else nothing) AND an entry, and an
 * unverified source reaches the identity inbound only as a contact.
 * Returns the decision and the rule that must decide it.
 */
function reference(row: Row): { allow: boolean; rule: string } {
  const net = row.net
  const inEffect = row.own ?? row.global
  const name = row.own ? IDENTITY(net) : 'global'
  const flag = net === 'federation' ? 'federation' : net === 'xmpp' ? 'xmpp' : 'publicCloud'
  const flagOn = inEffect?.[flag] === true
  const avOn = inEffect?.publicCloudAudioVideo === true
  const isProvider = net === 'public-provider'
  const isCall = row.kind === 'call'
  const entryOk =
    net === 'federation'
      ? row.entry === 'listed' || row.discovery
      : row.entry !== 'none' && row.entry !== 'disabled'
  const verified =
    net === 'federation' ||
    row.entry === 'AlwaysVerifiable' ||
    (row.entry === 'UseSourceVerification' && row.sourceVerified === true) ||
    row.entry === 'Federated' ||
    row.entry === 'PublicVerified'
  const reaches = row.direction === 'outbound' || verified || row.contact

  const allow =
    !row.blocked &&
    row.edgeFederated &&
    (!isProvider || row.edgePublic) &&
    flagOn &&
    (!isProvider || !isCall || avOn) &&
    entryOk &&
    reaches

  let rule: string
  if (row.blocked) rule = 'blocked-domain'
  else if (!row.edgeFederated) rule = 'edge.allowFederatedUsers'
  else if (isProvider && !row.edgePublic) rule = 'edge.allowPublicProviders'
  else if (!flagOn) rule = `policy:${name}.${flag}`
  else if (isProvider && isCall && !avOn) rule = `policy:${name}.publicCloudAudioVideo`
  else if (net === 'federation' && !entryOk) rule = 'unlisted-domain'
  else if (isProvider && row.entry === 'none') rule = 'provider.none'
  else if (isProvider && row.entry === 'disabled') rule = 'provider:PicOne.enabled'
  else if (net === 'xmpp' && row.entry === 'none') rule = 'xmpp-partner.none'
  else if (!reaches) rule = 'unverified-stranger'
  else if (!verified && row.direction === 'inbound') rule = 'unverified-contact'
  else if (net === 'federation')
    rule = row.entry === 'listed' ? 'allowed-domain' : 'edge.partnerDiscovery'
  else if (isProvider) rule = 'provider:PicOne'
  else rule = `xmpp-partner:${REMOTE_DOMAIN.xmpp}`
  return { allow, rule }
}

/** Every combination of `dims`, as objects. */
function* product<T extends Record<string, readonly unknown[]>>(
  dims: T,
): Generator<{ [K in keyof T]: T[K][number] }> {
  const keys = Object.keys(dims) as (keyof T)[]
  const walk = function* (i: number, acc: Partial<Record<keyof T, unknown>>): Generator<never> {
    if (i === keys.length) {
      yield acc as never
      return
    }
    const key = keys[i] as keyof T
    for (const value of dims[key] ?? []) yield* walk(i + 1, { ...acc, [key]: value })
  }
  yield* walk(0, {})
}

/**
 * Each policy choice: none, or every combination of the flags that matter.
 * The other flags are the opposite of the first one that matters, so reading
 * the wrong flag shows in both directions.
 */
function choices(flags: [keyof Flags, ...(keyof Flags)[]]): PolicyChoice[] {
  const out: PolicyChoice[] = [undefined]
  for (const combo of product(Object.fromEntries(flags.map((f) => [f, BOOLS])))) {
    const other = !combo[flags[0]]
    out.push({
      federation: other,
      publicCloud: other,
      publicCloudAudioVideo: other,
      xmpp: other,
      ...combo,
    })
  }
  return out
}

function check(
  t: Test,
  net: NetworkKind,
  dims: Record<string, readonly unknown[]>,
  expectedRows: number,
) {
  const policyDims = { ...dims }
  const requestDims = {
    direction: DIRS,
    kind: KINDS,
    contact: BOOLS,
  }
  let rows = 0
  let allowed = 0
  const mismatches: unknown[] = []
  const badTrails: unknown[] = []
  for (const policyPart of product(policyDims)) {
    const base = { net, ...policyPart } as unknown as Row
    const compiled = compilePolicy(policyFor(base))
    for (const requestPart of product(requestDims)) {
      const row = { ...base, ...requestPart } as Row
      const request = requestFor(row)
      const got: Decision = decide(compiled, request)
      const want = reference(row)
      rows++
      if (got.allow) allowed++
      if (got.allow !== want.allow || got.rule !== want.rule) {
        if (mismatches.length < 10)
          mismatches.push({ row, want, got: { allow: got.allow, rule: got.rule } })
      }
      const last = got.trail.at(-1)
      const earlierPass = got.trail.slice(0, -1).every((s) => s.pass)
      if (
        last?.rule !== got.rule ||
        last.pass !== got.allow ||
        !earlierPass ||
        got.reason.length === 0
      ) {
        if (badTrails.length < 10) badTrails.push({ row, got })
      }
    }
  }
  t.equal(rows, expectedRows, `${net}: rows decided`)
  t.same(mismatches, [], `${net}: decide() agrees with the reference on every row`)
  t.same(badTrails, [], `${net}: every trail ends with the deciding rule, all earlier steps passed`)
  t.ok(allowed > 0 && allowed < rows, `${net}: ${allowed} of ${rows} rows allowed`)
  return rows
}

let total = 0

t.test('SIP federation', async (t) => {
  total += check(
    t,
    'federation',
    {
      edgeFederated: BOOLS,
      edgePublic: BOOLS,
      discovery: BOOLS,
      global: choices(['federation']),
      own: choices(['federation']),
      entry: ['listed', 'unlisted'],
      blocked: BOOLS,
      sourceVerified: [undefined],
    },
    2 * 2 * 2 * 3 * 3 * 2 * 2 * (2 * 4 * 2),
  )
})

t.test('public IM providers', async (t) => {
  total += check(
    t,
    'public-provider',
    {
      edgeFederated: BOOLS,
      edgePublic: BOOLS,
      discovery: BOOLS,
      global: choices(['publicCloud', 'publicCloudAudioVideo']),
      own: choices(['publicCloud', 'publicCloudAudioVideo']),
      entry: [
        'none',
        'disabled',
        'AlwaysVerifiable',
        'AlwaysUnverifiable',
        'UseSourceVerification',
      ],
      blocked: BOOLS,
      sourceVerified: [undefined, false, true],
    },
    2 * 2 * 2 * 5 * 5 * 5 * 2 * 3 * (2 * 4 * 2),
  )
})

t.test('XMPP partners', async (t) => {
  total += check(
    t,
    'xmpp',
    {
      edgeFederated: BOOLS,
      edgePublic: BOOLS,
      discovery: BOOLS,
      global: choices(['xmpp']),
      own: choices(['xmpp']),
      entry: ['none', 'Federated', 'PublicVerified', 'PublicUnverified'],
      blocked: BOOLS,
      sourceVerified: [undefined],
    },
    2 * 2 * 2 * 3 * 3 * 4 * 2 * (2 * 4 * 2),
  )
})

t.test('totals', async (t) => {
  t.equal(total, 4608 + 96000 + 9216, `${total} rows in all`)
})
