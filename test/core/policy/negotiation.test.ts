/**
 * Lync Server 2013's XMPP negotiation matrix: the 8 boolean combinations
 * Parley accepts, and the 18 rows of Microsoft's complete matrix
 * ("Negotiation settings for XMPP federated partners in Lync Server 2013",
 * TechNet JJ552456), transcribed below by hand.
 */
import t from 'tap'
import {
  type AuthMethod,
  type FindingCode,
  type Negotiation,
  validatePolicy,
  xmppNegotiation,
} from '../../../core/policy/index.js'

const codes = (fs: { code: FindingCode }[]) => fs.map((f) => f.code).sort()

t.test('the 8 boolean combinations (true = Required, false = NotSupported)', async (t) => {
  const table: Array<{
    tls: boolean
    sasl: boolean
    dialback: boolean
    errors: FindingCode[]
    warnings: FindingCode[]
    methods: AuthMethod[]
  }> = [
    {
      tls: true,
      sasl: true,
      dialback: true,
      errors: [],
      warnings: ['xmpp.dialback-unused'],
      methods: ['SASL over TLS'],
    },
    {
      tls: true,
      sasl: true,
      dialback: false,
      errors: [],
      warnings: [],
      methods: ['SASL over TLS'],
    },
    { tls: true, sasl: false, dialback: true, errors: [], warnings: [], methods: ['TLS Dialback'] },
    {
      tls: true,
      sasl: false,
      dialback: false,
      errors: ['xmpp.sasl-or-dialback'],
      warnings: [],
      methods: [],
    },
    {
      tls: false,
      sasl: true,
      dialback: true,
      errors: ['xmpp.sasl-requires-tls'],
      warnings: [],
      methods: ['TCP Dialback'],
    },
    {
      tls: false,
      sasl: true,
      dialback: false,
      errors: ['xmpp.sasl-requires-tls'],
      warnings: [],
      methods: [],
    },
    {
      tls: false,
      sasl: false,
      dialback: true,
      errors: [],
      warnings: [],
      methods: ['TCP Dialback'],
    },
    {
      tls: false,
      sasl: false,
      dialback: false,
      errors: ['xmpp.sasl-or-dialback'],
      warnings: [],
      methods: [],
    },
  ]
  t.equal(new Set(table.map((r) => `${r.tls}${r.sasl}${r.dialback}`)).size, 8, 'all 8 combinations')
  for (const row of table) {
    const label = `tls=${row.tls} sasl=${row.sasl} dialback=${row.dialback}`
    const out = xmppNegotiation(row)
    t.same(
      codes(out.findings.filter((f) => f.severity === 'error')),
      row.errors,
      `${label}: errors`,
    )
    t.same(
      codes(out.findings.filter((f) => f.severity === 'warning')),
      row.warnings,
      `${label}: warnings`,
    )
    t.same(out.methods, row.methods, `${label}: methods`)

    // The same through the whole-policy validation, with the partner's path.
    const result = validatePolicy({
      externalAccessPolicies: [{ name: 'global' }],
      xmppPartners: [
        { domain: 'chat.example', tls: row.tls, sasl: row.sasl, dialback: row.dialback },
      ],
    })
    t.equal(result.ok, row.errors.length === 0, `${label}: policy accepted iff no error`)
    t.same(codes(result.errors), row.errors, `${label}: policy errors`)
    t.same(codes(result.warnings), row.warnings, `${label}: policy warnings`)
    for (const f of [...result.errors, ...result.warnings]) {
      t.match(
        f.path,
        /^xmppPartners\[0\]\.(tls|sasl|dialback)$/,
        `${label}: ${f.code} names the field`,
      )
    }
  }
})

type Lync = 'ok' | 'warning' | 'invalid'
const R = 'Required'
const O = 'Optional'
const N = 'NotSupported'

/**
 * Microsoft's complete matrix: TLS, SASL, Dialback, the expected
 * authentication methods, and whether the Notes column has nothing, a
 * warning, or says "Not Valid Configuration". `parley` is what Parley
 * reports; it differs from Lync on two rows, where it follows the Control
 * Panel (JJ552447: "SASL must have TLS support and your changes are not saved").
 */
const MATRIX: Array<{
  tls: Negotiation
  sasl: Negotiation
  dialback: boolean
  methods: AuthMethod[]
  lync: Lync
  parley: FindingCode[]
}> = [
  {
    tls: R,
    sasl: R,
    dialback: true,
    methods: ['SASL over TLS'],
    lync: 'warning',
    parley: ['xmpp.dialback-unused'],
  },
  { tls: R, sasl: R, dialback: false, methods: ['SASL over TLS'], lync: 'ok', parley: [] },
  {
    tls: O,
    sasl: R,
    dialback: true,
    methods: ['SASL over TLS', 'TLS Dialback', 'TCP Dialback'],
    lync: 'warning',
    parley: ['xmpp.tls-optional-with-sasl'],
  },
  {
    tls: O,
    sasl: R,
    dialback: false,
    methods: ['SASL over TLS'],
    lync: 'warning',
    parley: ['xmpp.tls-optional-with-sasl'],
  },
  {
    tls: N,
    sasl: R,
    dialback: true,
    methods: ['TCP Dialback'],
    lync: 'warning',
    parley: ['xmpp.sasl-requires-tls'],
  },
  {
    tls: N,
    sasl: R,
    dialback: false,
    methods: [],
    lync: 'invalid',
    parley: ['xmpp.sasl-requires-tls'],
  },
  {
    tls: R,
    sasl: O,
    dialback: true,
    methods: ['SASL over TLS', 'TLS Dialback'],
    lync: 'ok',
    parley: [],
  },
  { tls: R, sasl: O, dialback: false, methods: ['SASL over TLS'], lync: 'ok', parley: [] },
  {
    tls: O,
    sasl: O,
    dialback: true,
    methods: ['SASL over TLS', 'TLS Dialback', 'TCP Dialback'],
    lync: 'warning',
    parley: ['xmpp.tls-optional-with-sasl'],
  },
  {
    tls: O,
    sasl: O,
    dialback: false,
    methods: ['SASL over TLS'],
    lync: 'warning',
    parley: ['xmpp.tls-optional-with-sasl'],
  },
  {
    tls: N,
    sasl: O,
    dialback: true,
    methods: ['TCP Dialback'],
    lync: 'warning',
    parley: ['xmpp.sasl-requires-tls'],
  },
  {
    tls: N,
    sasl: O,
    dialback: false,
    methods: [],
    lync: 'invalid',
    parley: ['xmpp.sasl-requires-tls'],
  },
  { tls: R, sasl: N, dialback: true, methods: ['TLS Dialback'], lync: 'ok', parley: [] },
  {
    tls: R,
    sasl: N,
    dialback: false,
    methods: [],
    lync: 'invalid',
    parley: ['xmpp.sasl-or-dialback'],
  },
  {
    tls: O,
    sasl: N,
    dialback: true,
    methods: ['TLS Dialback', 'TCP Dialback'],
    lync: 'ok',
    parley: [],
  },
  {
    tls: O,
    sasl: N,
    dialback: false,
    methods: [],
    lync: 'invalid',
    parley: ['xmpp.sasl-or-dialback'],
  },
  { tls: N, sasl: N, dialback: true, methods: ['TCP Dialback'], lync: 'ok', parley: [] },
  {
    tls: N,
    sasl: N,
    dialback: false,
    methods: [],
    lync: 'invalid',
    parley: ['xmpp.sasl-or-dialback'],
  },
]

t.test("Lync's complete matrix, row by row (18 rows)", async (t) => {
  t.equal(
    new Set(MATRIX.map((r) => `${r.tls}/${r.sasl}/${r.dialback}`)).size,
    18,
    'every combination once',
  )
  for (const row of MATRIX) {
    const label = `TLS ${row.tls}, SASL ${row.sasl}, Dialback ${row.dialback}`
    const out = xmppNegotiation(row)
    t.same(out.methods, row.methods, `${label}: expected methods`)
    t.same(codes(out.findings), row.parley, `${label}: findings`)
  }
})

t.test('Parley is never laxer than Lync', async (t) => {
  for (const row of MATRIX) {
    const label = `TLS ${row.tls}, SASL ${row.sasl}, Dialback ${row.dialback}`
    const { findings, methods } = xmppNegotiation(row)
    const errors = findings.filter((f) => f.severity === 'error')
    if (row.lync === 'invalid') t.ok(errors.length > 0, `${label}: Not Valid in Lync, refused`)
    if (row.lync === 'warning')
      t.ok(findings.length > 0, `${label}: Lync warned, Parley reports it`)
    if (row.lync === 'ok') t.same(findings, [], `${label}: no note in Lync, none here`)
    if (methods.length === 0) t.ok(errors.length > 0, `${label}: no method left, refused`)
  }
})

t.test(
  "Lync's defaults (New-CsXmppAllowedPartner) are TLS and SASL Required, dialback on",
  async (t) => {
    const result = validatePolicy({
      externalAccessPolicies: [{ name: 'global' }],
      xmppPartners: [{ domain: 'chat.example' }],
    })
    t.equal(result.ok, true)
    t.match(result.policy?.xmppPartners[0], {
      tls: 'Required',
      sasl: 'Required',
      dialback: true,
      partnerType: 'PublicUnverified',
      additionalDomains: [],
    })
    t.same(
      codes(result.warnings),
      ['xmpp.dialback-unused'],
      'and Lync warned about its own defaults',
    )
  },
)

t.test('booleans and Lync values mix', async (t) => {
  const out = xmppNegotiation({ tls: 'Optional', sasl: false, dialback: true })
  t.same(out.findings, [])
  t.same(out.methods, ['TLS Dialback', 'TCP Dialback'])
  t.equal(out.tls, 'Optional')
  t.equal(out.sasl, 'NotSupported')
})
