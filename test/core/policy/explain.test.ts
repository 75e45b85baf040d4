/**
 * Explanations: each decision names its rule, says why in words, and
 * carries the trail of rules checked. Scenarios from the issue: a blocked
 * domain, an unverified stranger and then the same sender as a contact, an
 * identity without publicCloud.
 */
import t from 'tap'
import { Value } from 'typebox/value'
import {
  accessPolicyFor,
  compilePolicy,
  decide,
  defaultPolicy,
  type Policy,
  type PolicyRequest,
  PolicyRequestSchema,
  validatePolicy,
  xmppPartnerFor,
} from '../../../core/policy/index.js'

const ALICE = 'xmpp:alice@parley.test'
const ECHO = 'xmpp:echo@parley.test'

function openPolicy(): Policy {
  const p = defaultPolicy()
  p.edge = {
    allowFederatedUsers: true,
    allowPublicProviders: true,
    partnerDiscovery: false,
    outgoingVerifiable: true,
  }
  p.externalAccessPolicies = [
    {
      name: 'global',
      federation: true,
      publicCloud: true,
      publicCloudAudioVideo: true,
      xmpp: true,
    },
    { name: ALICE, federation: true, publicCloud: false, publicCloudAudioVideo: false, xmpp: true },
    {
      name: 'windows-live:sip:carol@parley.test',
      federation: false,
      publicCloud: true,
      publicCloudAudioVideo: false,
      xmpp: false,
    },
  ]
  p.allowedDomains = ['partner.example']
  p.blockedDomains = ['blocked.example']
  p.publicProviders = [
    {
      name: 'WindowsLive',
      network: 'windows-live',
      proxyFqdn: 'federation.messenger.msn.com',
      enabled: true,
      verificationLevel: 'AlwaysVerifiable',
    },
    {
      name: 'AOL',
      network: 'aol',
      proxyFqdn: 'sip.oscar.aol.com',
      enabled: true,
      verificationLevel: 'AlwaysUnverifiable',
    },
    {
      name: 'Yahoo',
      network: 'yahoo',
      proxyFqdn: 'sip.yahoo.com',
      enabled: false,
      verificationLevel: 'AlwaysVerifiable',
    },
    {
      name: 'Skype',
      network: 'skype',
      proxyFqdn: 'sipfed.online.lync.com',
      enabled: true,
      verificationLevel: 'UseSourceVerification',
    },
  ]
  p.xmppPartners = [
    {
      domain: 'chat.example',
      additionalDomains: ['corp.chat.example'],
      partnerType: 'PublicUnverified',
      tls: true,
      sasl: true,
      dialback: false,
    },
    {
      domain: 'trusted.example',
      additionalDomains: [],
      partnerType: 'Federated',
      tls: true,
      sasl: true,
      dialback: false,
    },
    {
      domain: 'blocked.example',
      additionalDomains: [],
      partnerType: 'Federated',
      tls: true,
      sasl: true,
      dialback: false,
    },
  ]
  return p
}

const xmpp = (over: Partial<PolicyRequest> = {}): PolicyRequest => ({
  direction: 'inbound',
  network: 'xmpp',
  networkKind: 'xmpp',
  remote: 'xmpp:bob@chat.example/phone',
  identity: ECHO,
  kind: 'message',
  remoteIsContact: false,
  ...over,
})

t.test('the open policy is valid (bar the blocked partner warning)', async (t) => {
  const result = validatePolicy(openPolicy())
  t.equal(result.ok, true)
  t.same(
    result.warnings.map((w) => w.code),
    ['xmpp-partner.blocked-domain'],
  )
})

t.test('a blocked domain never gets through, whatever else allows it', async (t) => {
  const p = compilePolicy(openPolicy())
  for (const kind of ['message', 'presence', 'subscription', 'call'] as const) {
    for (const direction of ['inbound', 'outbound'] as const) {
      const d = decide(
        p,
        xmpp({ remote: 'xmpp:spam@BLOCKED.example', kind, direction, remoteIsContact: true }),
      )
      t.equal(d.allow, false)
      t.equal(d.rule, 'blocked-domain')
      t.match(d.reason, /domain 'blocked\.example' is blocked/)
      t.same(d.trail, [{ rule: 'blocked-domain', pass: false, note: d.reason }], 'decided first')
    }
  }
})

t.test('an unverified stranger is refused, and accepted once a contact', async (t) => {
  const p = openPolicy()
  const stranger = decide(p, xmpp())
  t.match(stranger, {
    allow: false,
    rule: 'unverified-stranger',
    networkKind: 'xmpp',
    reason:
      /message xmpp:bob@chat\.example\/phone -> xmpp:echo@parley\.test: XMPP partner 'chat\.example' is PublicUnverified, and .* is not a contact/,
  })
  t.same(
    stranger.trail.map((s) => [s.rule, s.pass]),
    [
      ['blocked-domain', true],
      ['edge.allowFederatedUsers', true],
      ['policy:global.xmpp', true],
      ['xmpp-partner:chat.example', true],
      ['unverified-stranger', false],
    ],
  )
  const subscription = decide(p, xmpp({ kind: 'subscription' }))
  t.equal(subscription.rule, 'unverified-stranger', 'a contact request too')
  const contact = decide(p, xmpp({ remoteIsContact: true }))
  t.match(contact, {
    allow: true,
    rule: 'unverified-contact',
    reason: /is a contact of xmpp:echo@parley\.test/,
  })
  const outbound = decide(p, xmpp({ direction: 'outbound' }))
  t.match(
    outbound,
    { allow: true, rule: 'xmpp-partner:chat.example' },
    'the identity may write first',
  )
  t.match(outbound.reason, /message xmpp:echo@parley\.test -> xmpp:bob@chat\.example\/phone/)
  const additional = decide(p, xmpp({ remote: 'xmpp:dan@Corp.Chat.example' }))
  t.equal(
    additional.trail.at(-2)?.rule,
    'xmpp-partner:chat.example',
    'additional domains are the partner',
  )
  const federated = decide(p, xmpp({ remote: 'xmpp:eve@trusted.example' }))
  t.match(federated, { allow: true, rule: 'xmpp-partner:trusted.example' })
  const unknown = decide(p, xmpp({ remote: 'xmpp:eve@sub.trusted.example' }))
  t.match(unknown, {
    allow: false,
    rule: 'xmpp-partner.none',
    reason: /'sub\.trusted\.example' is not an XMPP partner/,
  })
})

t.test(
  'an identity without publicCloud cannot reach a public provider; its own policy wins',
  async (t) => {
    const p = openPolicy()
    const d = decide(p, {
      direction: 'outbound',
      network: 'windows-live',
      networkKind: 'public-provider',
      remote: 'windows-live:sip:bob@hotmail.com',
      identity: 'windows-live:sip:dave@parley.test',
      kind: 'message',
      remoteIsContact: true,
    })
    t.match(d, { allow: true, rule: 'provider:WindowsLive' }, 'global allows dave')
    const alice = decide(p, {
      direction: 'outbound',
      network: 'xmpp',
      networkKind: 'public-provider',
      remote: 'xmpp:bob@hotmail.com',
      identity: ALICE,
      kind: 'message',
      remoteIsContact: true,
    })
    t.match(alice, {
      allow: false,
      rule: 'policy:xmpp:alice@parley.test.publicCloud',
      reason: /xmpp:alice@parley\.test's own external access policy does not enable publicCloud/,
    })
  },
)

t.test('calls with a public provider need publicCloudAudioVideo', async (t) => {
  const p = openPolicy()
  const call = (identity: string) =>
    decide(p, {
      direction: 'inbound',
      network: 'windows-live',
      networkKind: 'public-provider',
      remote: 'windows-live:sip:bob@hotmail.com',
      identity,
      kind: 'call',
      remoteIsContact: false,
    })
  t.match(call('windows-live:sip:dave@parley.test'), { allow: true, rule: 'provider:WindowsLive' })
  t.match(call('windows-live:sip:carol@parley.test'), {
    allow: false,
    rule: 'policy:windows-live:sip:carol@parley.test.publicCloudAudioVideo',
    reason: /does not enable publicCloudAudioVideo/,
  })
})

t.test('public providers: no entry, disabled, unverifiable, source verification', async (t) => {
  const p = compilePolicy(openPolicy())
  const req = (network: string, over: Partial<PolicyRequest> = {}): PolicyRequest => ({
    direction: 'inbound',
    network,
    remote: `${network}:sip:bob@provider.example`,
    identity: `${network}:sip:echo@parley.test`,
    kind: 'message',
    remoteIsContact: false,
    provider: { displayName: network },
    ...over,
  })
  t.match(decide(p, req('icq')), {
    allow: false,
    rule: 'provider.none',
    reason: /no public provider entry for network 'icq'/,
  })
  t.match(decide(p, req('yahoo')), {
    allow: false,
    rule: 'provider:Yahoo.enabled',
    reason: /provider 'Yahoo' is disabled/,
  })
  t.match(decide(p, req('aol')), {
    allow: false,
    rule: 'unverified-stranger',
    reason: /provider 'AOL' is AlwaysUnverifiable/,
  })
  t.match(decide(p, req('aol', { remoteIsContact: true })), {
    allow: true,
    rule: 'unverified-contact',
  })
  t.match(decide(p, req('skype')), {
    allow: false,
    rule: 'unverified-stranger',
    reason: /provider 'Skype' uses source verification and did not mark the sender verified/,
  })
  t.match(decide(p, req('skype', { sourceVerified: false })), {
    allow: false,
    rule: 'unverified-stranger',
  })
  t.match(decide(p, req('skype', { sourceVerified: true })), {
    allow: true,
    rule: 'provider:Skype',
  })
  // Found by the provider's proxy FQDN when the network name has no entry.
  t.match(
    decide(p, req('msn-revival', { provider: { proxyFqdn: 'FEDERATION.messenger.msn.com' } })),
    { allow: true, rule: 'provider:WindowsLive', networkKind: 'public-provider' },
  )
})

t.test('SIP federation: allowed domains, partner discovery', async (t) => {
  const p = openPolicy()
  const req = (remote: string): PolicyRequest => ({
    direction: 'inbound',
    network: 'sip',
    networkKind: 'federation',
    remote,
    identity: 'sip:sip:echo@parley.test',
    kind: 'subscription',
    remoteIsContact: false,
  })
  t.match(decide(p, req('sip:sip:bob@Partner.example;transport=tls')), {
    allow: true,
    rule: 'allowed-domain',
  })
  t.match(decide(p, req('sip:sip:bob@stranger.example')), {
    allow: false,
    rule: 'unlisted-domain',
    reason: /'stranger\.example' is not on the allowed domains list, and partner discovery is off/,
  })
  p.edge.partnerDiscovery = true
  t.match(decide(p, req('sip:sip:bob@stranger.example')), {
    allow: true,
    rule: 'edge.partnerDiscovery',
  })
  p.edge.allowFederatedUsers = false
  t.match(decide(p, req('sip:sip:bob@partner.example')), {
    allow: false,
    rule: 'edge.allowFederatedUsers',
    reason: /the edge does not allow federated users/,
  })
})

t.test('the network kind is input, never guessed from the name', async (t) => {
  const p = openPolicy()
  const d = decide(p, {
    direction: 'inbound',
    network: 'xmpp',
    remote: 'xmpp:eve@trusted.example',
    identity: ECHO,
    kind: 'message',
    remoteIsContact: true,
  })
  t.match(d, {
    allow: false,
    rule: 'network-kind.unknown',
    reason: /network 'xmpp' has no declared kind/,
  })
  t.notOk('networkKind' in d)
})

t.test('an XMPP partner requiring TLS is refused over an unencrypted stream', async (t) => {
  const p = openPolicy()
  const remote = 'xmpp:eve@trusted.example'
  for (const direction of ['inbound', 'outbound'] as const) {
    const plain = decide(p, xmpp({ direction, remote, transportSecure: false }))
    t.match(plain, {
      allow: false,
      rule: 'xmpp-partner:trusted.example.tls',
      reason: /requires TLS, and the stream carrying it is not encrypted/,
    })
    t.match(decide(p, xmpp({ direction, remote, transportSecure: true })), {
      allow: true,
      rule: 'xmpp-partner:trusted.example',
    })
    // Unknown (a plugin that cannot tell) is not refused on this ground.
    t.match(decide(p, xmpp({ direction, remote })), { allow: true })
  }
  // Optional or NotSupported TLS does not care.
  const optional = openPolicy()
  const partner = optional.xmppPartners[1]
  if (!partner) throw new Error('fixture')
  partner.tls = 'Optional'
  partner.sasl = 'Optional'
  partner.dialback = true
  t.match(decide(optional, xmpp({ remote, transportSecure: false })), { allow: true })
})

t.test('malformed requests are refused, not thrown', async (t) => {
  const p = openPolicy()
  for (const over of [
    { remote: 'nonsense' },
    { identity: '' },
    { remote: 'sip:bob@partner.example' },
    { identity: 'sip:sip:echo@parley.test' },
    { remote: 'xmpp:bob@' },
  ]) {
    const d = decide(p, xmpp(over))
    t.equal(d.allow, false, JSON.stringify(over))
    t.equal(d.rule, 'request.invalid', JSON.stringify(over))
  }
})

t.test('no global policy: identities without their own get nothing', async (t) => {
  const p = openPolicy()
  p.externalAccessPolicies = [
    {
      name: ALICE,
      federation: false,
      publicCloud: false,
      publicCloudAudioVideo: false,
      xmpp: true,
    },
  ]
  t.match(decide(p, xmpp({ remote: 'xmpp:eve@trusted.example' })), {
    allow: false,
    rule: 'policy:global.xmpp',
    reason: /no external access policy \(not even 'global'\)/,
  })
  t.match(decide(p, xmpp({ identity: ALICE, remote: 'xmpp:eve@trusted.example' })), { allow: true })
  t.equal(accessPolicyFor(p, ECHO), undefined)
  t.equal(accessPolicyFor(p, ALICE)?.name, ALICE)
})

t.test("Lync's default policy refuses everything at the edge", async (t) => {
  const d = decide(
    defaultPolicy(),
    xmpp({ remote: 'xmpp:eve@trusted.example', remoteIsContact: true }),
  )
  t.match(d, { allow: false, rule: 'edge.allowFederatedUsers' })
})

t.test('lookups', async (t) => {
  const p = compilePolicy(openPolicy())
  t.equal(xmppPartnerFor(p, 'CORP.chat.example')?.domain, 'chat.example')
  t.equal(xmppPartnerFor(openPolicy(), 'nowhere.example'), undefined)
})

t.test('untrusted enum values are refused, not misread', async (t) => {
  const p = openPolicy()
  const bad = (over: Record<string, unknown>) => decide(p, { ...xmpp(), ...over } as PolicyRequest)
  t.match(bad({ kind: 'fax' }), { allow: false, rule: 'request.invalid' })
  t.match(bad({ direction: 'sideways' }), { allow: false, rule: 'request.invalid' })
  t.match(bad({ networkKind: 'carrier-pigeon' }), { allow: false, rule: 'network-kind.unknown' })
})

t.test('PolicyRequestSchema accepts a request and refuses extra fields', async (t) => {
  t.ok(Value.Check(PolicyRequestSchema, xmpp()))
  t.notOk(Value.Check(PolicyRequestSchema, { ...xmpp(), admin: true }))
  t.notOk(Value.Check(PolicyRequestSchema, { ...xmpp(), networkKind: 'pigeon' }))
})

t.test('xmppDomainPolicy (the demo and benchmarks): that domain in, nothing else', async (t) => {
  const { xmppDomainPolicy } = await import('../../../core/policy/presets.js')
  const p = xmppDomainPolicy('chat.example', ['corp.chat.example'])
  t.same(validatePolicy(p).errors, [])
  const ask = (remote: string, over: Partial<PolicyRequest> = {}) =>
    decide(p, xmpp({ remote, remoteIsContact: false, ...over }))
  t.match(ask('xmpp:bob@chat.example'), { allow: true, rule: 'xmpp-partner:chat.example' })
  t.match(ask('xmpp:bob@corp.chat.example', { direction: 'outbound' }), { allow: true })
  t.match(ask('xmpp:eve@elsewhere.example'), { allow: false, rule: 'xmpp-partner.none' })
  t.match(
    decide(p, {
      direction: 'inbound',
      network: 'sip',
      networkKind: 'federation',
      remote: 'sip:sip:carol@partner.example',
      identity: 'sip:sip:bot@parley.test',
      kind: 'message',
      remoteIsContact: true,
    }),
    { allow: false, rule: 'policy:global.federation' },
  )
})
