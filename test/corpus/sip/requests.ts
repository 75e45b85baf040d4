/**
 * SIP corpus: requests written straight onto the edge's TCP listener with a
 * broken start line, missing, duplicated, folded, huge or oddly named
 * headers, and a Content-Length that lies. See case.ts.
 *
 * `none` answers: the `sip` package (kirm 0.0.6) parses a request into a
 * transaction only when it has a start line it can read and Via, Call-ID,
 * From, To and CSeq it can parse; anything else is dropped before Parley
 * sees it, so no response can be built (there is nothing to address it to).
 */
import { request, type SipCase } from './case.js'

const DROPPED =
  'the sip package drops a message it cannot parse into a transaction (no usable start line, Via, Call-ID, From, To or CSeq) before the plugin sees it'
const WIRE_INVALID_CALL = { code: 'PARLEY_ERR_WIRE_INVALID', callId: true } as const

const message = (
  name: string,
  attacks: string,
  options: Parameters<typeof request>[2],
  expect: SipCase['expect'],
): SipCase => ({
  name,
  attacks,
  via: 'tcp',
  build: (c) =>
    request(c, 'MESSAGE', {
      body: `${c.marker} ${name}`,
      ...options,
    }),
  expect,
})

export const startLineCases: SipCase[] = [
  {
    name: 'start-line-without-version',
    attacks: "a request line that stops after the Request-URI (no 'SIP/2.0')",
    via: 'tcp',
    build: (c) => request(c, 'MESSAGE', { startLine: `MESSAGE ${c.bot}`, body: c.marker }),
    expect: { answer: 'none', why: DROPPED },
  },
  {
    name: 'start-line-lowercase-version',
    attacks: "'sip/2.0' in lower case",
    via: 'tcp',
    build: (c) => request(c, 'MESSAGE', { startLine: `MESSAGE ${c.bot} sip/2.0`, body: c.marker }),
    expect: { answer: 'none', why: DROPPED },
  },
  {
    name: 'start-line-double-spaces',
    attacks: 'two spaces between the parts of the request line',
    via: 'tcp',
    build: (c) =>
      request(c, 'MESSAGE', { startLine: `MESSAGE  ${c.bot}  SIP/2.0`, body: c.marker }),
    expect: { answer: 'none', why: DROPPED },
  },
  {
    name: 'start-line-version-3',
    attacks: 'SIP/3.0 (RFC 3261 §8.2.2 would answer 505)',
    via: 'tcp',
    build: (c) =>
      request(c, 'MESSAGE', { startLine: `MESSAGE ${c.bot} SIP/3.0`, body: `${c.marker} v3` }),
    expect: { answer: 200, bot: 'message' },
  },
  {
    name: 'start-line-request-uri-tel',
    attacks: 'a tel: Request-URI with the bot in To (RFC 3261 would answer 416)',
    via: 'tcp',
    build: (c) =>
      request(c, 'MESSAGE', {
        uri: 'tel:+15551234',
        headers: { To: `<${c.bot}>` },
        body: `${c.marker} tel`,
      }),
    expect: { answer: 200, bot: 'message' },
  },
  {
    name: 'start-line-request-uri-5000-characters',
    attacks: 'a 5,000-character Request-URI, and the same in To',
    via: 'tcp',
    build: (c) => {
      const uri = `sip:${'a'.repeat(5000)}@${c.domain}`
      return request(c, 'MESSAGE', { uri, body: c.marker })
    },
    expect: { answer: 404, bot: 'nothing', log: WIRE_INVALID_CALL },
  },
  {
    name: 'start-line-method-lowercase',
    attacks: "method 'message' (methods are case-sensitive: an unknown method)",
    via: 'tcp',
    build: (c) => request(c, 'message', { body: c.marker }),
    expect: { answer: 405, bot: 'nothing' },
  },
  {
    name: 'start-line-method-percent-escaped',
    attacks: "method 'M%45SSAGE' (the package unescapes methods: it becomes MESSAGE)",
    via: 'tcp',
    build: (c) => request(c, 'M%45SSAGE', { body: `${c.marker} escaped method` }),
    expect: { answer: 200, bot: 'message' },
  },
  {
    name: 'start-line-method-10000-characters',
    attacks: 'a 10,000-character method name',
    via: 'tcp',
    build: (c) => request(c, 'X'.repeat(10_000)),
    expect: { answer: 405 },
  },
  {
    name: 'response-to-unknown-transaction',
    attacks: 'a 200 OK for a transaction the edge never started',
    via: 'tcp',
    build: (c) =>
      request(c, 'MESSAGE', { startLine: 'SIP/2.0 200 OK', headers: { 'Content-Length': '0' } }),
    expect: {
      answer: 'none',
      why: 'responses are never answered; one matching no transaction is dropped',
    },
  },
  {
    name: 'response-status-999',
    attacks: 'a response with status 999 and a 2,000-character reason',
    via: 'tcp',
    build: (c) => request(c, 'MESSAGE', { startLine: `SIP/2.0 999 ${'r'.repeat(2000)}` }),
    expect: {
      answer: 'none',
      why: 'responses are never answered; one matching no transaction is dropped',
    },
  },
  {
    name: 'response-status-below-100',
    attacks: 'a response with status 042',
    via: 'tcp',
    build: (c) => request(c, 'MESSAGE', { startLine: 'SIP/2.0 042 Weird' }),
    expect: {
      answer: 'none',
      why: 'responses are never answered; this one is not even a valid status',
    },
  },
  {
    name: 'response-provisional-to-nothing',
    attacks: 'a 180 Ringing for no transaction',
    via: 'tcp',
    build: (c) => request(c, 'INVITE', { startLine: 'SIP/2.0 180 Ringing' }),
    expect: {
      answer: 'none',
      why: 'responses are never answered; one matching no transaction is dropped',
    },
  },
]

export const headerCases: SipCase[] = [
  message(
    'missing-call-id',
    'a MESSAGE without Call-ID',
    { headers: { 'Call-ID': null } },
    {
      answer: 'none',
      why: DROPPED,
    },
  ),
  message(
    'missing-cseq',
    'a MESSAGE without CSeq',
    { headers: { CSeq: null } },
    {
      answer: 'none',
      why: DROPPED,
    },
  ),
  message(
    'missing-to',
    'a MESSAGE without To',
    { headers: { To: null } },
    {
      answer: 'none',
      why: DROPPED,
    },
  ),
  message(
    'empty-via',
    'a Via header with an empty value',
    { headers: { Via: '' } },
    {
      answer: 'none',
      why: DROPPED,
    },
  ),
  message(
    'via-without-branch',
    'a Via without a branch parameter (RFC 2543 style)',
    { headers: { Via: 'SIP/2.0/TCP 127.0.0.77:5060' } },
    { answer: 200, bot: 'message' },
  ),
  {
    ...message(
      'via-7000-protocol-stubs',
      "a Via of 7,000 'SIP/2.0/' stubs: the package's Via regex backtracks (~0.6 s of CPU)",
      { headers: { Via: 'SIP/2.0/'.repeat(7000) } },
      { answer: 'none', why: DROPPED },
    ),
    alone: true,
  },
  message(
    'via-1000-entries',
    'a request with 1,000 Via entries (the response must carry them all back)',
    {
      headers: {
        Via: [
          `SIP/2.0/TCP 127.0.0.77:5060;branch=z9hG4bKtop${Date.now()}`,
          ...Array.from(
            { length: 999 },
            (_, i) => `SIP/2.0/UDP 10.0.${i % 250}.1;branch=z9hG4bK${i}`,
          ),
        ].join(','),
      },
    },
    { answer: 200, bot: 'message' },
  ),
  message(
    'cseq-method-mismatch',
    'a MESSAGE whose CSeq says INVITE (RFC 3261 would answer 400)',
    { headers: { CSeq: '1 INVITE' } },
    { answer: 200, bot: 'message' },
  ),
  message(
    'cseq-huge-number',
    'a CSeq of 20 digits (RFC 3261: less than 2**31)',
    { headers: { CSeq: '99999999999999999999 MESSAGE' } },
    { answer: 200, bot: 'message' },
  ),
  message(
    'cseq-without-method',
    'a CSeq with a number only',
    { headers: { CSeq: '7' } },
    { answer: 'none', why: DROPPED },
  ),
  message(
    'call-id-600-characters',
    'a 600-character Call-ID (the host keeps remote ids to 512)',
    { headers: { 'Call-ID': `${'c'.repeat(600)}@corpus.test` } },
    // The host refuses the event; the edge answers 400, not 200 and not silence.
    { answer: 400, bot: 'nothing' },
  ),
  message(
    'duplicate-call-id',
    'two Call-ID headers',
    { extra: ['Call-ID: second-call-id@corpus.test'] },
    { answer: 200, bot: 'message' },
  ),
  message(
    'duplicate-from',
    'two From headers naming different users (RFC 3261 would answer 400)',
    { extra: ['From: <sip:eve@yahoo.test>;tag=second'] },
    { answer: 200, bot: 'message' },
  ),
  message(
    'duplicate-to',
    'two To headers, the second for a user that does not exist',
    { extra: ['To: <sip:nobody@parley.test>'] },
    { answer: 200, bot: 'message' },
  ),
  message(
    'from-with-password',
    'a From URI with a password in it',
    { headers: { From: '<sip:mallory:secret@aol.test>;tag=pw' } },
    { answer: 400, bot: 'nothing', log: WIRE_INVALID_CALL },
  ),
  message(
    'from-2000-characters',
    'a 2,000-character From URI (an address may hold 1,024)',
    { headers: { From: `<sip:${'m'.repeat(2000)}@aol.test>;tag=long` } },
    { answer: 400, bot: 'nothing', log: WIRE_INVALID_CALL },
  ),
  message(
    'from-quoted-display-name',
    'a From with a quoted display name full of escapes, brackets and UTF-8',
    { headers: { From: '"M\\"al<lo>ry \\\\ ünï" <sip:mallory@aol.test>;tag=dn' } },
    { answer: 200, bot: 'message' },
  ),
  message(
    'to-with-tag-out-of-dialog',
    'a MESSAGE with a To tag (looks in-dialog) for no dialog',
    { headers: { To: '<sip:bot@parley.test>;tag=no-such-dialog' } },
    { answer: 200, bot: 'message' },
  ),
  message(
    'folded-headers',
    'From and Subject folded over several lines (RFC 3261 §7.3.1)',
    {
      headers: { From: '<sip:mallory@aol.test>\r\n   ;tag=folded\r\n\t;x=y' },
      extra: ['Subject: a subject\r\n that goes on\r\n\tand on'],
    },
    { answer: 200, bot: 'message' },
  ),
  {
    name: 'folded-first-header',
    attacks: 'a continuation line right after the request line (nothing to continue)',
    via: 'tcp',
    build: (c) =>
      request(c, 'MESSAGE', {
        startLine: `MESSAGE ${c.bot} SIP/2.0\r\n   continued`,
        body: `${c.marker} continued start line`,
      }),
    // Folded into the request line, which still starts with a valid request.
    expect: { answer: 200, bot: 'message' },
  },
  message(
    'header-without-colon',
    'a header line without a colon',
    { extra: ['This line has no colon'] },
    { answer: 'none', why: DROPPED },
  ),
  message(
    'header-with-empty-name',
    "a header line ': value' with no name",
    { extra: [': no name here'] },
    { answer: 200, bot: 'message' },
  ),
  message(
    'header-names-of-object-properties',
    'headers named __proto__, constructor, toString, hasOwnProperty and valueOf',
    {
      extra: [
        '__proto__: {"polluted": true}',
        'constructor: x',
        'toString: y',
        'hasOwnProperty: z',
        'valueOf: w',
      ],
    },
    { answer: 200, bot: 'message' },
  ),
  {
    name: 'compact-header-names',
    attacks: 'every header in its compact form (v, f, t, i, c, l) and odd letter case',
    via: 'tcp',
    build: (c) => {
      const body = `${c.marker} compact`
      return Buffer.from(
        [
          `MESSAGE ${c.bot} SIP/2.0`,
          `v: SIP/2.0/TCP ${c.local}:5060;branch=${c.branch}`,
          `f: <sip:mallory@aol.test>;tag=${c.tag}`,
          `t: <${c.bot}>`,
          `i: ${c.callId}`,
          'cSeQ: 1 MESSAGE',
          'MAX-FORWARDS: 70',
          'c: text/plain',
          `l: ${Buffer.byteLength(body)}`,
          '',
          body,
        ].join('\r\n'),
      )
    },
    expect: { answer: 200, bot: 'message' },
  },
  message(
    'headers-2000-small',
    '2,000 small unknown headers (55 kB, under the 60 kB header limit)',
    { extra: Array.from({ length: 2000 }, (_, i) => `X-H${i}: ${'v'.repeat(16)}`) },
    { answer: 200, bot: 'message' },
  ),
  message(
    'header-50000-bytes',
    'one unknown header of 50,000 bytes',
    { extra: [`X-Big: ${'b'.repeat(50_000)}`] },
    { answer: 200, bot: 'message' },
  ),
  {
    ...message(
      'contact-5000-entries',
      'a Contact list of 5,000 URIs (the package parses it in quadratic time)',
      { extra: [`Contact: ${Array.from({ length: 5000 }, () => '<sip:a@b>').join(',')}`] },
      { answer: 200, bot: 'message' },
    ),
    alone: true,
  },
  message(
    'max-forwards-zero',
    'Max-Forwards: 0 (a UAS may still take it)',
    { headers: { 'Max-Forwards': '0' } },
    { answer: 200, bot: 'message' },
  ),
  message(
    'max-forwards-garbage',
    "Max-Forwards: 'many'",
    { headers: { 'Max-Forwards': 'many' } },
    { answer: 200, bot: 'message' },
  ),
  message(
    'header-value-binary',
    'an unknown header holding NUL and bytes 0x80-0xFF',
    {
      extra: [`X-Binary: ${String.fromCharCode(0, 1, 0x7f, 0x80, 0xa0, 0xff)}end`],
    },
    { answer: 200, bot: 'message' },
  ),
]

export const contentLengthCases: SipCase[] = [
  {
    name: 'content-length-short',
    attacks:
      'a Content-Length 3 bytes shorter than the body (the rest is read as the next message)',
    via: 'tcp',
    build: (c) => {
      const body = `${c.marker} short!!!`
      return request(c, 'MESSAGE', {
        body,
        headers: { 'Content-Length': String(Buffer.byteLength(body) - 3) },
      })
    },
    expect: { answer: 200, bot: 'message' },
  },
  {
    name: 'content-length-longer-than-body',
    attacks: 'a Content-Length 40 bytes longer than what follows (the stream waits for them)',
    via: 'tcp',
    build: (c) => {
      const body = `${c.marker} long`
      return request(c, 'MESSAGE', {
        body,
        headers: { 'Content-Length': String(Buffer.byteLength(body) + 40) },
      })
    },
    expect: {
      answer: 'none',
      why: 'on a stream the body is not complete until Content-Length bytes came (RFC 3261 §18.3): nothing to answer yet',
    },
  },
  {
    name: 'content-length-minus-one',
    attacks: 'Content-Length: -1 with a body after it',
    via: 'tcp',
    build: (c) =>
      request(c, 'MESSAGE', { body: `${c.marker} minus`, headers: { 'Content-Length': '-1' } }),
    // The framing of the rest of the stream cannot be known: the connection is closed.
    expect: {
      answer: 'none',
      why: 'a negative Content-Length ends the stream (patches/sip+0.0.6.patch; before, it was read as 0 and the body as garbage)',
    },
  },
  {
    name: 'content-length-not-a-number-then-valid-request',
    attacks: "Content-Length: 'ten', then a valid OPTIONS on the same connection",
    via: 'tcp',
    build: (c) => [
      request(c, 'MESSAGE', { body: `${c.marker} nan`, headers: { 'Content-Length': 'ten' } }),
      request({ ...c, callId: `${c.callId}-2`, branch: `${c.branch}2` }, 'OPTIONS'),
    ],
    pauseMs: 50,
    expect: {
      answer: 'none',
      why: 'a Content-Length that is not a number ends the stream (patches/sip+0.0.6.patch; before, the parser waited for NaN bytes forever)',
    },
  },
  {
    name: 'content-length-hex-and-exponent',
    attacks: "Content-Length written '0x2a' (JavaScript reads hex: 42)",
    via: 'tcp',
    build: (c) => {
      const body = `${c.marker} hex`.padEnd(42, '.')
      return request(c, 'MESSAGE', { body, headers: { 'Content-Length': '0x2a' } })
    },
    expect: { answer: 200, bot: 'message' },
  },
  {
    name: 'content-length-missing',
    attacks: 'a MESSAGE with a body and no Content-Length on a stream',
    via: 'tcp',
    build: (c) =>
      request(c, 'MESSAGE', { body: `${c.marker} no length`, headers: { 'Content-Length': null } }),
    expect: {
      answer: 'none',
      why: 'on a stream Content-Length is mandatory (RFC 3261 §18.3); the package drops the message',
    },
  },
  {
    name: 'content-length-zero-with-body',
    attacks: 'Content-Length: 0 followed by a body (read as garbage after an empty MESSAGE)',
    via: 'tcp',
    build: (c) =>
      request(c, 'MESSAGE', { body: `${c.marker} zero`, headers: { 'Content-Length': '0' } }),
    expect: { answer: 200 },
  },
  {
    name: 'content-length-twice',
    attacks: 'two Content-Length headers that disagree (the last one wins)',
    via: 'tcp',
    build: (c) => {
      const body = `${c.marker} twice`
      return request(c, 'MESSAGE', {
        body,
        headers: { 'Content-Length': '3' },
        extra: [`Content-Length: ${Buffer.byteLength(body)}`],
      })
    },
    expect: { answer: 200, bot: 'message' },
  },
]
