/**
 * SIP corpus: hand-written requests to a real Kamailio (the provider cloud),
 * addressed to the bot at parley.test, which Kamailio routes to the edge.
 * What Kamailio lets through is what a federation partner really delivers;
 * what it refuses (its sanity checks) never reaches Parley. The answers are
 * Kamailio's or the edge's, relayed. See case.ts.
 */
import { PIDF_NS, request, type SipCase, type SipCaseContext } from './case.js'

const through = (
  name: string,
  attacks: string,
  build: (c: SipCaseContext) => string | Buffer,
  expect: SipCase['expect'],
): SipCase => ({ name, attacks, via: 'kamailio', build, expect })

/** A MESSAGE through the proxy whose header block ends with `ending` instead of CRLF CRLF. */
function headerEnd(c: SipCaseContext, ending: string): Buffer {
  const text = request(c, 'MESSAGE', { body: `${c.marker} odd header end` }).toString('latin1')
  return Buffer.from(text.replace('\r\n\r\n', ending), 'latin1')
}

export const kamailioCases: SipCase[] = [
  through(
    'kamailio-message-latin1-body',
    'a MESSAGE with ISO-8859-1 bytes in its body, relayed by the proxy',
    (c) =>
      request(c, 'MESSAGE', {
        body: Buffer.from(`${c.marker} gr\u00fc\u00dfe`, 'latin1'),
        headers: { 'Content-Type': 'text/plain; charset=iso-8859-1' },
      }),
    { answer: 200, bot: 'message' },
  ),
  through(
    'kamailio-message-folded-headers',
    'folded From and Subject headers through the proxy',
    (c) =>
      request(c, 'MESSAGE', {
        body: `${c.marker} folded`,
        headers: { From: `<sip:mallory@aol.test>\r\n ;tag=${c.tag}` },
        extra: ['Subject: folded\r\n\tsubject'],
      }),
    { answer: 200, bot: 'message' },
  ),
  through(
    'kamailio-message-duplicate-content-length',
    'two Content-Length headers that disagree',
    (c) => {
      const body = `${c.marker} dup length`
      return request(c, 'MESSAGE', {
        body,
        headers: { 'Content-Length': String(Buffer.byteLength(body)) },
        extra: ['Content-Length: 2'],
      })
    },
    {
      answer: 'none',
      why: "Kamailio's sanity check drops it without a reply; the edge never sees it",
    },
  ),
  through(
    'kamailio-message-negative-content-length',
    'Content-Length: -1 through the proxy',
    (c) =>
      request(c, 'MESSAGE', { body: `${c.marker} negative`, headers: { 'Content-Length': '-1' } }),
    {
      answer: 'none',
      why: "Kamailio's sanity check drops it without a reply; the edge never sees it",
    },
  ),
  through(
    'kamailio-message-8-kilobyte-header',
    'an 8 kB unknown header, relayed',
    (c) =>
      request(c, 'MESSAGE', {
        body: `${c.marker} big header`,
        extra: [`X-Big: ${'h'.repeat(8000)}`],
      }),
    { answer: 200, bot: 'message' },
  ),
  through(
    'kamailio-message-wrong-content-type',
    'a MESSAGE of application/octet-stream junk',
    (c) =>
      request(c, 'MESSAGE', {
        body: Buffer.from([0, 1, 2, 250, 251, 252]),
        headers: { 'Content-Type': 'application/octet-stream' },
      }),
    { answer: 415, bot: 'nothing' },
  ),
  through(
    'kamailio-message-pidf-garbage',
    'a MESSAGE carrying a PIDF document with an external entity',
    (c) =>
      request(c, 'MESSAGE', {
        body: `<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><presence xmlns="${PIDF_NS}" entity="sip:mallory@aol.test"><note>&x;</note></presence>`,
        headers: { 'Content-Type': 'application/pidf+xml' },
      }),
    { answer: 415, bot: 'nothing' },
  ),
  through(
    'kamailio-message-invalid-utf8-and-nul',
    'invalid UTF-8 and NUL bytes in a text/plain body, relayed',
    (c) =>
      request(c, 'MESSAGE', {
        body: Buffer.concat([
          Buffer.from(`${c.marker} `),
          Buffer.from([0xff, 0x00, 0xc3, 0x28, 0xf0, 0x9f]),
        ]),
        headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      }),
    { answer: 200, bot: 'message' },
  ),
  through(
    'kamailio-subscribe-expires-garbage',
    "SUBSCRIBE with Expires: 'never'",
    (c) =>
      request(c, 'SUBSCRIBE', {
        headers: { Event: 'presence', Expires: 'never', Accept: 'application/pidf+xml' },
      }),
    // Kamailio's sanity check answers it (bad Expires); the edge never sees it.
    { answer: 400 },
  ),
  through(
    'kamailio-subscribe-event-garbage',
    'SUBSCRIBE with an Event of 500 semicolons',
    (c) => request(c, 'SUBSCRIBE', { headers: { Event: ';'.repeat(500), Expires: '60' } }),
    { answer: 489 },
  ),
  through(
    'kamailio-invite-broken-sdp',
    'an INVITE whose SDP is binary junk, relayed',
    (c) =>
      request(c, 'INVITE', {
        body: Buffer.from([0x76, 0x3d, 0xff, 0x00, 0x6d, 0x3d, 0x0d, 0x0a, 0x80, 0x81]),
        headers: { 'Content-Type': 'application/sdp' },
      }),
    { answer: 488 },
  ),
  through(
    'kamailio-notify-outside-dialog-xxe',
    'a NOTIFY with an XXE PIDF for a subscription that does not exist',
    (c) =>
      request(c, 'NOTIFY', {
        headers: {
          Event: 'presence',
          'Subscription-State': 'active',
          'Content-Type': 'application/pidf+xml',
        },
        body: `<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><presence xmlns="${PIDF_NS}" entity="sip:mallory@aol.test"><note>&x;</note></presence>`,
      }),
    { answer: 481 },
  ),
  through(
    'kamailio-message-unknown-user',
    'a MESSAGE for a user of parley.test the edge does not serve',
    (c) => request(c, 'MESSAGE', { uri: `sip:nobody@${c.domain}`, body: c.marker }),
    { answer: 404, bot: 'nothing' },
  ),
  through(
    'kamailio-message-missing-cseq',
    'a MESSAGE without CSeq (the proxy refuses it)',
    (c) => request(c, 'MESSAGE', { body: c.marker, headers: { CSeq: null } }),
    {
      answer: 'none',
      why: 'Kamailio drops it (and closes the connection); the edge never sees it',
    },
  ),
  {
    name: 'kamailio-header-block-ends-crlf-lf',
    attacks:
      "a MESSAGE whose header block ends CRLF LF (Kamailio relays it), then three valid requests sharing the proxy's connection to the edge",
    via: 'kamailio',
    alone: true,
    fixed:
      'sip 0.0.6 makeStreamParser ended a header block only at CRLF CRLF; Kamailio relays one ending CRLF LF (or LF LF), and the shared proxy-to-edge stream lost sync, dropping every later relayed request with a body (patches/sip+0.0.6.patch: CRLF CRLF, CRLF LF and LF LF end a header block)',
    build: (c) => [
      headerEnd(c, '\r\n\n'),
      request(
        { ...c, callId: `${c.callId}-next`, branch: `${c.branch}n`, tag: `${c.tag}n` },
        'MESSAGE',
        {
          body: `${c.marker} the next user`,
        },
      ),
      request(
        { ...c, callId: `${c.callId}-after`, branch: `${c.branch}a`, tag: `${c.tag}a` },
        'MESSAGE',
        {
          body: `${c.marker} the user after`,
        },
      ),
      // Without a body: with the bug, this is what brings the stream back in step
      // (so the rest of the replay is not lost with it).
      request(
        { ...c, callId: `${c.callId}-options`, branch: `${c.branch}o`, tag: `${c.tag}o` },
        'OPTIONS',
      ),
    ],
    pauseMs: 200,
    // The odd request itself may go unanswered; the three after it must not suffer.
    expect: {
      answer: 200,
      answers: 3,
      bot: 'message',
      text: '[corpus:kamailio-header-block-ends-crlf-lf] the next user',
    },
  },
]
