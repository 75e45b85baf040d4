import t from 'tap'
import {
  checkProviderEdit,
  defaultPolicy,
  FINDINGS,
  type FindingCode,
  type Policy,
  type PublicProvider,
  policyError,
  providerEntryFromFacts,
  refusalOf,
  validatePolicy,
} from '../../../core/policy/index.js'

const codes = (fs: { code: FindingCode }[]) => fs.map((f) => f.code)

const WL: PublicProvider = {
  name: 'WindowsLive',
  network: 'windows-live',
  proxyFqdn: 'federation.messenger.msn.com',
  enabled: true,
  verificationLevel: 'AlwaysVerifiable',
}
const AOL: PublicProvider = {
  name: 'AOL',
  network: 'aol',
  proxyFqdn: 'sip.oscar.aol.com',
  enabled: true,
  verificationLevel: 'AlwaysVerifiable',
}

function policy(overrides: Partial<Policy> = {}): unknown {
  return { ...defaultPolicy(), ...overrides }
}

t.test("Lync's default policy is valid and closes the edge", async (t) => {
  const result = validatePolicy(defaultPolicy())
  t.equal(result.ok, true)
  t.same(result.errors, [])
  t.same(result.warnings, [])
  t.match(result.policy?.edge, {
    allowFederatedUsers: false,
    allowPublicProviders: false,
    partnerDiscovery: false,
    outgoingVerifiable: true,
  })
})

t.test(
  'an empty object gets the defaults, and a warning for the missing global policy',
  async (t) => {
    const result = validatePolicy({})
    t.equal(result.ok, true)
    t.same(codes(result.warnings), ['policy.no-global'])
    t.same(result.policy?.publicProviders, [])
  },
)

t.test('schema errors: shape, unknown properties, enums, domains', async (t) => {
  for (const [input, path] of [
    [null, '(policy)'],
    [[], '(policy)'],
    ['policy', '(policy)'],
    [{ edge: { allowFederatedUsers: 'yes' } }, 'edge.allowFederatedUsers'],
    [{ edge: { bogus: true } }, 'edge'],
    [{ extra: 1 }, '(policy)'],
    [{ blockedDomains: ['not a domain'] }, 'blockedDomains[0]'],
    [{ blockedDomains: ['-bad.example'] }, 'blockedDomains[0]'],
    [{ allowedDomains: [`${'a'.repeat(64)}.example`] }, 'allowedDomains[0]'],
    [
      { publicProviders: [{ ...WL, verificationLevel: 'Sometimes' }] },
      'publicProviders[0].verificationLevel',
    ],
    [{ publicProviders: [{ ...WL, enabled: undefined }] }, 'publicProviders[0].enabled'],
    [{ xmppPartners: [{ domain: 'chat.example', tls: 'Maybe' }] }, 'xmppPartners[0].tls'],
    [
      { xmppPartners: [{ domain: 'chat.example', partnerType: 'Friendly' }] },
      'xmppPartners[0].partnerType',
    ],
    [{ externalAccessPolicies: [{ name: 'Global' }] }, 'externalAccessPolicies[0].name'],
  ] as const) {
    const result = validatePolicy(input)
    t.equal(result.ok, false, `${JSON.stringify(input)} refused`)
    t.equal(result.policy, undefined)
    t.same(codes(result.errors), ['policy.schema'], `${JSON.stringify(input)}: policy.schema`)
    t.equal(result.errors[0]?.path, path, `${JSON.stringify(input)}: at ${path}`)
  }
  const union = validatePolicy({ xmppPartners: [{ domain: 'chat.example', tls: 'Maybe' }] })
  t.match(
    union.errors[0]?.message,
    /must be one of boolean, "Required", "Optional", "NotSupported"/,
  )
  const extra = validatePolicy({ edge: { bogus: true } })
  t.match(extra.errors[0]?.message, /unknown property 'bogus'/)
})

t.test('schema errors are capped (at most 20 findings)', async (t) => {
  const result = validatePolicy({
    blockedDomains: Array.from({ length: 50 }, () => 'not a domain'),
  })
  t.ok(result.errors.length > 0 && result.errors.length <= 20, `${result.errors.length} findings`)
})

t.test('the input is not modified', async (t) => {
  const input = { edge: { allowFederatedUsers: true } }
  validatePolicy(input)
  t.same(input, { edge: { allowFederatedUsers: true } })
})

t.test(
  'public providers: names and proxy FQDNs unique (case-insensitive), one entry per network',
  async (t) => {
    const result = validatePolicy(
      policy({
        publicProviders: [
          WL,
          { ...AOL, name: 'windowslive' },
          { ...AOL, name: 'AOL2', network: 'aol2', proxyFqdn: 'FEDERATION.messenger.msn.com' },
          { ...AOL, name: 'AOL3', proxyFqdn: 'other.aol.example' },
        ],
      }),
    )
    t.equal(result.ok, false)
    t.same(codes(result.errors), [
      'provider.duplicate-name',
      'provider.duplicate-proxy-fqdn',
      'provider.duplicate-network',
    ])
    t.same(
      result.errors.map((e) => e.path),
      ['publicProviders[1].name', 'publicProviders[2].proxyFqdn', 'publicProviders[3].network'],
    )
    t.match(result.errors[0]?.message, /'windowslive' is already used by publicProviders\[0\]/)
  },
)

t.test(
  'allowed and blocked domains are disjoint (a conflict), duplicates are warnings',
  async (t) => {
    const result = validatePolicy(
      policy({
        allowedDomains: ['partner.example', 'Fabrikam.example', 'fabrikam.example'],
        blockedDomains: ['FABRIKAM.example', 'evil.example', 'evil.example'],
      }),
    )
    t.equal(result.ok, false)
    t.same(codes(result.errors), ['domain.conflict'], 'reported once per domain')
    t.equal(result.errors[0]?.path, 'allowedDomains[1]')
    t.match(result.errors[0]?.message, /'fabrikam.example' is both allowed and blocked/)
    t.same(codes(result.warnings), ['domain.duplicate', 'domain.duplicate'])
    t.equal(refusalOf('domain.conflict'), 'conflict')
  },
)

t.test(
  'external access policies: unique names, global or an address, A/V needs public cloud',
  async (t) => {
    const result = validatePolicy(
      policy({
        externalAccessPolicies: [
          {
            name: 'global',
            federation: true,
            publicCloud: false,
            publicCloudAudioVideo: true,
            xmpp: false,
          },
          {
            name: 'xmpp:alice@parley.test',
            federation: false,
            publicCloud: true,
            publicCloudAudioVideo: true,
            xmpp: true,
          },
          {
            name: 'xmpp:alice@parley.test',
            federation: true,
            publicCloud: false,
            publicCloudAudioVideo: false,
            xmpp: false,
          },
          {
            name: 'xmpp:has space@parley.test',
            federation: true,
            publicCloud: false,
            publicCloudAudioVideo: false,
            xmpp: false,
          },
        ],
      }),
    )
    t.same(codes(result.errors), ['policy.duplicate-name', 'policy.invalid-name'])
    t.same(codes(result.warnings), ['policy.audio-video-without-public-cloud'])
    t.equal(result.warnings[0]?.path, 'externalAccessPolicies[0].publicCloudAudioVideo')
  },
)

t.test(
  'XMPP partners: a domain belongs to one partner; a blocked partner domain is a warning',
  async (t) => {
    const partner = { tls: true, sasl: true, dialback: false, partnerType: 'Federated' as const }
    const result = validatePolicy(
      policy({
        blockedDomains: ['corp.chat.example'],
        xmppPartners: [
          { ...partner, domain: 'chat.example', additionalDomains: ['corp.chat.example'] },
          { ...partner, domain: 'other.example', additionalDomains: ['CHAT.example'] },
        ],
      }),
    )
    t.same(codes(result.errors), ['xmpp-partner.duplicate-domain'])
    t.match(result.errors[0], {
      path: 'xmppPartners[1]',
      message: /'chat.example' is already covered by xmppPartners\[0\]/,
    })
    t.same(codes(result.warnings), ['xmpp-partner.blocked-domain'])
  },
)

t.test('edge: public providers without federated users is a warning', async (t) => {
  const p = defaultPolicy()
  p.edge.allowPublicProviders = true
  const result = validatePolicy(p)
  t.equal(result.ok, true)
  t.same(codes(result.warnings), ['edge.public-providers-without-federation'])
})

t.test('checkProviderEdit: the proxy FQDN and the name cannot change in place', async (t) => {
  t.same(
    checkProviderEdit(WL, { ...WL, enabled: false, verificationLevel: 'AlwaysUnverifiable' }),
    {
      ok: true,
      errors: [],
      warnings: [],
    },
  )
  t.equal(
    checkProviderEdit(WL, { ...WL, proxyFqdn: 'FEDERATION.MESSENGER.MSN.COM' }).ok,
    true,
    'case only',
  )
  const moved = checkProviderEdit(WL, { ...WL, proxyFqdn: 'federation.example' })
  t.equal(moved.ok, false)
  t.same(codes(moved.errors), ['provider.proxy-fqdn-immutable'])
  t.match(
    moved.errors[0]?.message,
    /cannot be edited in place .*remove the provider and create it again/,
  )
  const renamed = checkProviderEdit(WL, { ...WL, name: 'Live', proxyFqdn: 'federation.example' })
  t.same(codes(renamed.errors), ['provider.name-immutable', 'provider.proxy-fqdn-immutable'])
  t.equal(refusalOf('provider.proxy-fqdn-immutable'), 'conflict')
})

t.test(
  'policyError: POLICY_CONFLICT (409) for a conflict, VALIDATION (400) otherwise, every code in the message',
  async (t) => {
    const conflict = validatePolicy(
      policy({ allowedDomains: ['a.example'], blockedDomains: ['a.example'] }),
    )
    const err = policyError(conflict)
    t.equal(err.code, 'PARLEY_ERR_POLICY_CONFLICT')
    t.equal(err.statusCode, 409)
    t.match(err.message, /\[domain\.conflict\] 'a\.example' is both allowed and blocked/)
    t.equal(err.refusal, 'conflict')
    t.same(codes(err.findings), ['domain.conflict'])
    const invalid = policyError(
      validatePolicy(
        policy({
          xmppPartners: [
            {
              domain: 'c.example',
              additionalDomains: [],
              partnerType: 'Federated',
              tls: false,
              sasl: true,
              dialback: false,
            },
          ],
        }),
      ),
    )
    t.equal(invalid.refusal, 'invalid')
    t.equal(invalid.code, 'PARLEY_ERR_VALIDATION')
    t.equal(invalid.statusCode, 400)
  },
)

t.test('every finding code has a severity, and every error a refusal kind', async (t) => {
  for (const [code, entry] of Object.entries(FINDINGS)) {
    t.ok(['error', 'warning'].includes(entry.severity), code)
    t.equal('refusal' in entry, entry.severity === 'error', `${code}: refusal iff error`)
  }
})

t.test('providerEntryFromFacts seeds an entry from a profile', async (t) => {
  t.same(
    providerEntryFromFacts('windows-live', {
      displayName: 'Windows Live',
      proxyFqdn: 'federation.messenger.msn.com',
      verificationLevel: 'AlwaysVerifiable',
    }),
    {
      name: 'Windows Live',
      network: 'windows-live',
      proxyFqdn: 'federation.messenger.msn.com',
      enabled: true,
      verificationLevel: 'AlwaysVerifiable',
    },
  )
  t.equal(
    providerEntryFromFacts('x', { displayName: 'X', verificationLevel: 'AlwaysVerifiable' }),
    undefined,
    'no proxy, no entry',
  )
  const seeded = providerEntryFromFacts('yahoo', {
    displayName: 'Yahoo!',
    proxyFqdn: 'sip.yahoo.com',
    verificationLevel: 'AlwaysVerifiable',
  })
  t.equal(seeded?.name, 'Yahoo')
  t.equal(validatePolicy(policy({ publicProviders: [seeded as PublicProvider] })).ok, true)
})
