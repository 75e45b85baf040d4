/**
 * SIP corpus: what a request carries, straight onto the edge's TCP listener:
 * MESSAGE bodies in other charsets and media types (PIDF garbage included),
 * SUBSCRIBE with bad Expires, Event and Contact, INVITE with broken SDP,
 * NOTIFY outside any dialog. See case.ts.
 */
import { headThenBody, PIDF_NS, request, type SipCase, type SipCaseContext } from './case.js'

const WIRE_INVALID_CALL = { code: 'PARLEY_ERR_WIRE_INVALID', callId: true } as const
const MAX_BODY = 4096 // the test edge's maxBodyBytes

const body = (
  name: string,
  attacks: string,
  contentType: string | null,
  payload: (c: SipCaseContext) => string | Buffer,
  expect: SipCase['expect'],
): SipCase => ({
  name,
  attacks,
  via: 'tcp',
  build: (c) =>
    request(c, 'MESSAGE', { body: payload(c), headers: { 'Content-Type': contentType } }),
  expect,
})

const subscribe = (
  name: string,
  attacks: string,
  headers: Record<string, string | null>,
  expect: SipCase['expect'],
): SipCase => ({
  name,
  attacks,
  via: 'tcp',
  build: (c) =>
    request(c, 'SUBSCRIBE', {
      headers: { Event: 'presence', Expires: '600', Accept: 'application/pidf+xml', ...headers },
    }),
  expect,
})

const sdp = (c: SipCaseContext, media: string) =>
  ['v=0', `o=- 1 1 IN IP4 ${c.local}`, 's=-', `c=IN IP4 ${c.local}`, 't=0 0', media, ''].join(
    '\r\n',
  )

const invite = (
  name: string,
  attacks: string,
  payload: ((c: SipCaseContext) => string | Buffer) | undefined,
  expect: SipCase['expect'],
  headers: Record<string, string | null> = {},
): SipCase => ({
  name,
  attacks,
  via: 'tcp',
  build: (c) =>
    request(c, 'INVITE', {
      ...(payload && { body: payload(c) }),
      headers: { 'Content-Type': payload ? 'application/sdp' : null, ...headers },
    }),
  expect,
})

export const bodyCases: SipCase[] = [
  body(
    'body-latin1-declared',
    'a body in ISO-8859-1, declared so in its charset (the edge reads UTF-8)',
    'text/plain; charset=iso-8859-1',
    (c) => Buffer.from(`${c.marker} caf\u00e9 na\u00efve`, 'latin1'),
    { answer: 200, bot: 'message' },
  ),
  body(
    'body-utf16-with-bom',
    'a UTF-16LE body with a byte-order mark',
    'text/plain; charset=utf-16',
    (c) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${c.marker} utf16`, 'utf16le')]),
    { answer: 200 },
  ),
  body(
    'body-utf8-encoded-surrogates',
    'a body with ED A0 80 ED B0 80 (a surrogate pair encoded as CESU-8)',
    'text/plain; charset=utf-8',
    (c) =>
      Buffer.concat([
        Buffer.from(`${c.marker} cesu `),
        Buffer.from([0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80]),
      ]),
    { answer: 200, bot: 'message' },
  ),
  body(
    'body-nul-and-escape-sequences',
    'NUL bytes, ANSI escape sequences and a bell in the body',
    'text/plain',
    (c) => `${c.marker} \u0000\u0000\u001b[2J\u001b]0;pwned\u0007 end`,
    { answer: 200, bot: 'message' },
  ),
  body(
    'body-exactly-max-body-bytes',
    `a body of exactly maxBodyBytes (${MAX_BODY} bytes)`,
    'text/plain',
    (c) => `${c.marker} `.padEnd(MAX_BODY, 'm'),
    { answer: 200, bot: 'message' },
  ),
  {
    name: 'body-one-megabyte',
    attacks: 'a 1 MB body, written after its headers (the package itself takes up to 4 MiB)',
    via: 'tcp',
    build: (c) =>
      headThenBody(request(c, 'MESSAGE', { body: `${c.marker} `.padEnd(1_000_000, 'm') })),
    pauseMs: 30,
    expect: { answer: 413, bot: 'nothing', log: WIRE_INVALID_CALL },
  },
  {
    name: 'message-70-kilobytes-in-one-write',
    attacks: 'a 70 kB MESSAGE in a single write (headers and body in one read)',
    via: 'tcp',
    build: (c) => request(c, 'MESSAGE', { body: `${c.marker} `.padEnd(70_000, 'm') }),
    // Before patches/sip+0.0.6.patch the package counted the body against its
    // 60,480-byte header limit and closed the connection without an answer.
    expect: { answer: 413 },
  },
  body('body-empty', 'a MESSAGE with no body at all', null, () => '', { answer: 200 }),
  body(
    'content-type-uppercase',
    "Content-Type 'TEXT/PLAIN' (media types are case-insensitive)",
    'TEXT/PLAIN',
    (c) => `${c.marker} upper type`,
    { answer: 200, bot: 'message' },
  ),
  body(
    'content-type-empty-parameters',
    "Content-Type 'text/plain;;;charset' (empty and valueless parameters)",
    'text/plain;;;charset',
    (c) => `${c.marker} odd params`,
    { answer: 200, bot: 'message' },
  ),
  body(
    'content-type-missing-with-body',
    'a body without Content-Type (RFC 3261 would answer 400; the edge takes text/plain)',
    null,
    (c) => `${c.marker} untyped`,
    { answer: 200, bot: 'message' },
  ),
  body(
    'message-with-pidf-body',
    'a MESSAGE whose body is PIDF garbage with an external entity',
    'application/pidf+xml',
    () =>
      `<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><presence xmlns="${PIDF_NS}">&x;</presence>`,
    { answer: 415, bot: 'nothing' },
  ),
  body(
    'message-cpim',
    'a message/cpim body (as Lync sent inside sessions)',
    'message/cpim',
    (c) => `From: <sip:mallory@aol.test>\r\nContent-Type: text/plain\r\n\r\n${c.marker}`,
    { answer: 415, bot: 'nothing' },
  ),
  body(
    'content-encoding-gzip-garbage',
    'Content-Encoding: gzip on bytes that are no gzip',
    'text/plain',
    (c) => `${c.marker} not gzip`,
    { answer: 200, bot: 'message' },
  ),
]

export const subscribeCases: SipCase[] = [
  subscribe(
    'subscribe-expires-negative',
    'SUBSCRIBE with Expires: -1',
    { Expires: '-1' },
    {
      answer: 202,
    },
  ),
  subscribe(
    'subscribe-expires-text',
    "SUBSCRIBE with Expires: 'soon'",
    { Expires: 'soon' },
    {
      answer: 202,
    },
  ),
  subscribe(
    'subscribe-expires-huge',
    'SUBSCRIBE with a 20-digit Expires',
    { Expires: '99999999999999999999' },
    { answer: 202 },
  ),
  subscribe(
    'subscribe-expires-exponent',
    "SUBSCRIBE with Expires: '1e9' (parseInt reads 1)",
    { Expires: '1e9' },
    { answer: 202 },
  ),
  subscribe(
    'subscribe-expires-zero-initial',
    'an initial SUBSCRIBE with Expires: 0 (a fetch)',
    { Expires: '0' },
    {
      answer: 200,
    },
  ),
  subscribe(
    'subscribe-event-empty',
    'SUBSCRIBE with an empty Event',
    { Event: '' },
    {
      answer: 489,
    },
  ),
  subscribe(
    'subscribe-event-uppercase',
    "Event: 'PRESENCE' (event packages are case-insensitive here)",
    { Event: 'PRESENCE' },
    {
      answer: 202,
    },
  ),
  subscribe(
    'subscribe-event-with-huge-id',
    'Event: presence with a 5,000-character id parameter',
    { Event: `presence;id=${'i'.repeat(5000)}` },
    { answer: 202 },
  ),
  subscribe(
    'subscribe-event-winfo',
    'Event: presence.winfo (a watcher-info subscription)',
    { Event: 'presence.winfo' },
    {
      answer: 489,
    },
  ),
  subscribe(
    'subscribe-accept-json-only',
    'Accept: application/json only (RFC 6665 would answer 406)',
    { Accept: 'application/json' },
    {
      answer: 202,
    },
  ),
  subscribe(
    'subscribe-contact-star',
    'Contact: * on a SUBSCRIBE',
    { Contact: '*' },
    {
      answer: 202,
    },
  ),
  subscribe(
    'subscribe-without-contact',
    'a SUBSCRIBE with no Contact (RFC 3261 would answer 400): NOTIFYs then go to the From URI',
    // From an IP literal: a domain there would make the edge look it up in DNS (see the report).
    { Contact: null, From: '<sip:mallory@127.0.0.77>;tag=no-contact' },
    { answer: 202 },
  ),
  subscribe(
    'subscribe-record-route-500',
    'a SUBSCRIBE with 500 Record-Route entries (copied into the dialog route set)',
    {
      'Record-Route': Array.from(
        { length: 500 },
        (_, i) => `<sip:127.0.0.77:${1 + (i % 9)};transport=tcp;lr>`,
      ).join(','),
    },
    { answer: 202 },
  ),
  subscribe(
    'subscribe-refresh-unknown-dialog',
    'an in-dialog SUBSCRIBE (To tag) for a dialog that does not exist (RFC 6665 would answer 481)',
    { To: '<sip:bot@parley.test>;tag=no-such-dialog' },
    { answer: 202 },
  ),
  {
    name: 'subscribe-unknown-user',
    attacks: 'a SUBSCRIBE to a user the edge does not serve',
    via: 'tcp',
    build: (c) =>
      request(c, 'SUBSCRIBE', {
        uri: `sip:nobody@${c.domain}`,
        headers: { Event: 'presence', Expires: '600' },
      }),
    expect: { answer: 404, log: WIRE_INVALID_CALL },
  },
]

export const inviteCases: SipCase[] = [
  invite('invite-without-body', 'an INVITE with no SDP offer at all', undefined, { answer: 488 }),
  invite(
    'invite-sdp-binary',
    'an INVITE whose SDP is 2 kB of binary junk',
    () => Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 131 + 7) % 256)),
    { answer: 488 },
  ),
  invite(
    'invite-sdp-message-and-audio',
    'an offer mixing m=message and m=audio',
    (c) => sdp(c, 'm=message 5060 sip null\r\nm=audio 4000 RTP/AVP 0'),
    { answer: 488 },
  ),
  invite(
    'invite-sdp-message-only-garbage-lines',
    'an IM-session offer (m=message) surrounded by broken lines',
    (c) => `x=\u0000\r\n${sdp(c, 'm=message 0 sip null\r\nm')}\r\n==\r\n`,
    { answer: 200 },
  ),
  {
    name: 'invite-sdp-50000-media-lines',
    attacks: 'an offer with 50,000 m= lines (1 MB), written after its headers',
    via: 'tcp',
    build: (c) =>
      headThenBody(
        request(c, 'INVITE', {
          body: `v=0\r\n${'m=audio 1 RTP/AVP 0\r\n'.repeat(50_000)}`,
          headers: { 'Content-Type': 'application/sdp' },
        }),
      ),
    pauseMs: 30,
    expect: { answer: 488 },
  },
  invite(
    'invite-sdp-wrong-content-type',
    'an SDP offer labelled text/html',
    (c) => sdp(c, 'm=audio 4000 RTP/AVP 0'),
    { answer: 488 },
    { 'Content-Type': 'text/html' },
  ),
  invite(
    'reinvite-unknown-dialog',
    'a re-INVITE (To tag) for a dialog that does not exist (RFC 3261 would answer 481)',
    (c) => sdp(c, 'm=audio 4000 RTP/AVP 0'),
    { answer: 488 },
    { To: '<sip:bot@parley.test>;tag=no-such-dialog' },
  ),
  {
    name: 'notify-outside-dialog-with-xxe',
    attacks: 'a NOTIFY for no subscription whose PIDF declares an external entity',
    via: 'tcp',
    build: (c) =>
      request(c, 'NOTIFY', {
        headers: {
          Event: 'presence',
          'Subscription-State': 'active;expires=600',
          'Content-Type': 'application/pidf+xml',
        },
        body: `<?xml version="1.0"?><!DOCTYPE presence [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><presence xmlns="${PIDF_NS}" entity="sip:mallory@aol.test"><tuple id="t"><status><basic>open</basic></status></tuple><note>&xxe;</note></presence>`,
      }),
    expect: { answer: 481 },
  },
  {
    name: 'options-with-accept-garbage',
    attacks: 'OPTIONS with Accept and Supported headers full of junk',
    via: 'tcp',
    build: (c) =>
      request(c, 'OPTIONS', {
        headers: { Accept: '*/*;q=abc,,,;', Supported: ',,,timer,,', Require: 'nonsense-ext' },
      }),
    // RFC 3261 §8.2.2.3 would answer 420 for an unsupported Require; the edge ignores Require.
    expect: { answer: 200 },
  },
]
