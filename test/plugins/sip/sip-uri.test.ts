import t from 'tap'
import {
  decorateLive,
  normalizeSipUri,
  parseSipUri,
  sipDomain,
  undecorateLive,
} from '../../../plugins/sip/sip-uri.js'

t.test('normalizeSipUri accepts the usual forms and returns sip:user@host', async (t) => {
  const rows: Array<[string, string]> = [
    ['alice@example.com', 'sip:alice@example.com'],
    ['sip:alice@example.com', 'sip:alice@example.com'],
    ['SIP:Alice@Example.COM', 'sip:Alice@example.com'],
    ['sips:alice@example.com', 'sip:alice@example.com'],
    ['sip:alice@example.com;transport=tls', 'sip:alice@example.com'],
    ['sip:alice@example.com:5061;transport=tls?subject=hi', 'sip:alice@example.com'],
    ['sip:alice@example.com.', 'sip:alice@example.com'],
    ['<sip:alice@example.com>', 'sip:alice@example.com'],
    ['<sip:alice@example.com;transport=tcp>;tag=a48s', 'sip:alice@example.com'],
    ['Alice <sip:alice@example.com>', 'sip:alice@example.com'],
    ['Alice Smith <sips:alice@example.com>', 'sip:alice@example.com'],
    ['"Alice Smith" <sip:alice@example.com>', 'sip:alice@example.com'],
    ['"A \\"quoted\\" <name>" <sip:alice@example.com>;tag=1', 'sip:alice@example.com'],
    ['  "Élodie" <sip:elodie@example.com>  ', 'sip:elodie@example.com'],
    ['Élodie <sip:elodie@example.com>', 'sip:elodie@example.com'],
    ['sip:alice;day=tuesday@example.com', 'sip:alice;day=tuesday@example.com'],
    [
      'sip:+1-212-555-1212@gateway.example.com;user=phone',
      'sip:+1-212-555-1212@gateway.example.com',
    ],
    ['sip:bob@192.0.2.4:5060', 'sip:bob@192.0.2.4'],
    ['sip:bob@[2001:DB8::10]:5070', 'sip:bob@[2001:db8::10]'],
    ['sip:bob@[::1]', 'sip:bob@[::1]'],
    ["sip:J.Doe_1!~*'()@example.com", "sip:J.Doe_1!~*'()@example.com"],
    ['sip:al%69ce@example.com', 'sip:alice@example.com'],
    ['sip:a%2fb@example.com', 'sip:a%2Fb@example.com'],
    ['sip:alice(contoso.com)@msn.com', 'sip:alice(contoso.com)@msn.com'],
  ]
  for (const [input, expected] of rows) t.equal(normalizeSipUri(input), expected, input)
  t.same(parseSipUri('Sip:Bob@Host.Example'), { user: 'Bob', host: 'host.example' })
})

t.test('normalizeSipUri rejects malformed addresses with PARLEY_ERR_ADDRESS_INVALID', async (t) => {
  const rows: Array<[string, RegExp]> = [
    ['', /empty/],
    ['example.com', /missing user/],
    ['sip:example.com', /missing user/],
    ['sip:@example.com', /empty user/],
    ['alice@', /empty host/],
    ['sip:alice@', /empty host/],
    ['sip:alice@;transport=tcp', /empty host/],
    ['sip:alice@:5060', /empty host/],
    ['alice smith@example.com', /space/],
    [' sip:alice@example.com', /space/],
    ['sip:alice@example.com ', /space/],
    ['<sip:alice @example.com>', /space/],
    ['sip:ali\u0000ce@example.com', /control/],
    ['sip:alice\n@example.com', /control/],
    ['sip:ali<ce@example.com', /'>'/],
    ['sip:ali"ce@example.com', /bad character/],
    ['sip:ali#ce@example.com', /bad character/],
    ['sip:ali[ce@example.com', /bad character/],
    ['sip:élodie@example.com', /bad character/],
    ['sip:a%zzb@example.com', /bad escape/],
    ['sip:a%2@example.com', /bad escape/],
    ['sip:alice:secret@example.com', /password/],
    ['tel:+1-212-555-1212', /not a SIP URI scheme/],
    ['mailto:alice@example.com', /not a SIP URI scheme/],
    ['xmpp:alice@example.com', /not a SIP URI scheme/],
    ['sip:alice@exa_mple.com', /malformed host/],
    ['sip:alice@-example.com', /malformed host/],
    ['sip:alice@example..com', /malformed host/],
    ['sip:alice@example.123', /malformed host/],
    ['sip:alice@exämple.com', /malformed host/],
    ['sip:alice@999.1.1.1', /IPv4/],
    ['sip:alice@[2001:db8::zz]', /IPv6/],
    ['sip:alice@[::1', /'\]'/],
    ['sip:alice@example.com:99999', /port/],
    ['sip:alice@example.com:0', /port/],
    ['sip:alice@example.com:http', /port/],
    [`sip:alice@${'a'.repeat(254)}.com`, /too long/],
    [`sip:${'a'.repeat(2000)}@example.com`, /too long/],
    ['<sip:alice@example.com', /'>'/],
    ['sip:alice@example.com>', /'>'/],
    ['Alice <sip:alice@example.com> trailing', /after '>'/],
    ['"Alice <sip:alice@example.com>', /unterminated/],
    ['"Alice" sip:alice@example.com', /display name/],
    ['Al"ice <sip:alice@example.com>', /display name/],
    ['<sip:a@b.com><sip:c@d.com>', /after '>'/],
  ]
  for (const [input, reason] of rows) {
    t.throws(
      () => normalizeSipUri(input),
      { code: 'PARLEY_ERR_ADDRESS_INVALID', statusCode: 400, message: reason },
      JSON.stringify(input.slice(0, 60)),
    )
  }
  t.throws(() => normalizeSipUri(undefined as unknown as string), {
    code: 'PARLEY_ERR_ADDRESS_INVALID',
  })
  t.throws(() => normalizeSipUri(42 as unknown as string), { code: 'PARLEY_ERR_ADDRESS_INVALID' })
  t.throws(
    () => normalizeSipUri('sip:@x'),
    {
      message: /^Invalid address 'sip:@x': /,
    },
    'the message names the input and the reason',
  )
})

t.test('sipDomain returns the lower-cased host', async (t) => {
  t.equal(sipDomain('sip:alice@Example.COM;transport=tls'), 'example.com')
  t.equal(sipDomain('"Bob" <sips:bob@Corp.Example:5061>'), 'corp.example')
  t.equal(sipDomain('carol@[2001:DB8::1]'), '[2001:db8::1]')
  t.throws(() => sipDomain('nope'), { code: 'PARLEY_ERR_ADDRESS_INVALID' })
})

t.test('decorateLive writes the Windows Live (PIC) name', async (t) => {
  t.equal(decorateLive('alice@contoso.com'), 'sip:alice(contoso.com)@msn.com')
  t.equal(decorateLive('sip:Alice@Contoso.COM;transport=tls'), 'sip:Alice(contoso.com)@msn.com')
  t.equal(decorateLive('bob@hotmail.com'), 'sip:bob(hotmail.com)@msn.com')
  t.equal(decorateLive('sip:carol@msn.com'), 'sip:carol@msn.com', 'already at msn.com')
  t.equal(
    decorateLive('sip:alice(contoso.com)@msn.com'),
    'sip:alice(contoso.com)@msn.com',
    'idempotent',
  )
  t.throws(() => decorateLive('a(b)@contoso.com'), { code: 'PARLEY_ERR_ADDRESS_INVALID' })
  t.throws(() => decorateLive('contoso.com'), { code: 'PARLEY_ERR_ADDRESS_INVALID' })
})

t.test('undecorateLive reads it back', async (t) => {
  t.equal(undecorateLive('sip:alice(contoso.com)@msn.com'), 'sip:alice@contoso.com')
  t.equal(undecorateLive('<sip:Alice(Contoso.COM)@MSN.com>;tag=9'), 'sip:Alice@contoso.com')
  t.equal(
    undecorateLive('sip:alice%28contoso.com%29@msn.com'),
    'sip:alice@contoso.com',
    'escaped parentheses',
  )
  t.equal(undecorateLive('sip:carol@msn.com'), 'sip:carol@msn.com', 'a native msn.com user')
  t.equal(undecorateLive('alice@contoso.com'), 'sip:alice@contoso.com', 'not decorated')
  t.equal(
    undecorateLive('sip:alice(contoso.com)@example.com'),
    'sip:alice(contoso.com)@example.com',
    'only msn.com names are decorated',
  )
  for (const bad of [
    'sip:(contoso.com)@msn.com',
    'sip:alice()@msn.com',
    'sip:alice(bad_domain)@msn.com',
    'sip:alice(contoso.com@msn.com',
    'sip:alice(a)(b.com)@msn.com',
    'sip:al(ice)x@msn.com',
  ]) {
    t.throws(() => undecorateLive(bad), { code: 'PARLEY_ERR_ADDRESS_INVALID' }, bad)
  }
  for (const id of [
    'alice@contoso.com',
    'sip:Bob.Smith@fabrikam.example',
    'x+y@sub.corp.example',
  ]) {
    t.equal(undecorateLive(decorateLive(id)), normalizeSipUri(id), `round trip ${id}`)
  }
})
