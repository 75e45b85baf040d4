/**
 * SIP corpus: the transport level. Datagrams to the edge's UDP port (empty,
 * keep-alives, binary junk, lengths that lie) and bytes on a TCP connection
 * that are no SIP at all (keep-alives, TLS and HTTP, a request dribbled a
 * byte at a time, a flood of tiny blocks). See case.ts.
 */
import { request, type SipCase } from './case.js'

const NOT_SIP = 'not a SIP message: nothing to answer, nothing to address an answer to'
const DROPPED =
  'the sip package drops a message without the headers a transaction needs (Via, Call-ID, From, To, CSeq) before the plugin sees it'

/** Deterministic bytes (the corpus replays the same every run). */
function junk(length: number, seed = 7): Buffer {
  const out = Buffer.alloc(length)
  let x = seed
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    out[i] = x >> 16
  }
  return out
}

export const udpCases: SipCase[] = [
  {
    name: 'udp-empty-datagram',
    attacks: 'a datagram of zero bytes',
    via: 'udp',
    build: () => Buffer.alloc(0),
    expect: { answer: 'none', why: NOT_SIP },
  },
  {
    name: 'udp-crlf-keepalive',
    attacks: 'a CRLF CRLF keep-alive (RFC 5626 §3.5.1) and a lone CRLF',
    via: 'udp',
    build: () => ['\r\n\r\n', '\r\n'],
    expect: {
      answer: 'none',
      why: 'keep-alives are not requests; over UDP RFC 5626 uses STUN, not a pong',
    },
  },
  {
    name: 'udp-binary-junk',
    attacks: '1,400 bytes of binary junk',
    via: 'udp',
    build: () => junk(1400),
    expect: { answer: 'none', why: NOT_SIP },
  },
  {
    name: 'udp-largest-datagram',
    attacks: 'a 65,507-byte datagram (the largest UDP over IPv4 carries) of junk',
    via: 'udp',
    build: () => junk(65_507, 11),
    expect: { answer: 'none', why: NOT_SIP },
  },
  {
    name: 'udp-stun-binding-request',
    attacks: 'a STUN binding request (what RFC 5626 clients send as UDP keep-alive)',
    via: 'udp',
    build: () =>
      Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), junk(12, 3)]),
    expect: { answer: 'none', why: 'the edge speaks no STUN' },
  },
  {
    name: 'udp-options',
    attacks: 'a well-formed OPTIONS over UDP (the control: UDP answers at all)',
    via: 'udp',
    build: (c) => request(c, 'OPTIONS', { transport: 'UDP' }),
    expect: { answer: 200 },
  },
  {
    name: 'udp-content-length-beyond-datagram',
    attacks: 'a MESSAGE whose Content-Length is 100 bytes more than the datagram holds',
    via: 'udp',
    build: (c) => {
      const body = `${c.marker} truncated`
      return request(c, 'MESSAGE', {
        transport: 'UDP',
        body,
        headers: { 'Content-Length': String(Buffer.byteLength(body) + 100) },
      })
    },
    // RFC 3261 §18.3 would discard it (or answer 400); the package takes what there is.
    expect: { answer: 200, bot: 'message' },
  },
  {
    name: 'udp-content-length-zero-then-second-request',
    attacks: 'Content-Length: 0 followed by a second request in the same datagram',
    via: 'udp',
    build: (c) =>
      Buffer.concat([
        request(c, 'MESSAGE', { transport: 'UDP', headers: { 'Content-Length': '0' } }),
        request({ ...c, callId: `${c.callId}-inner` }, 'MESSAGE', {
          transport: 'UDP',
          body: `${c.marker} smuggled`,
        }),
      ]),
    // The package reads Content-Length 0 over UDP as "the rest of the datagram":
    // the second request arrives as the first one's text (reported).
    expect: { answer: 200 },
  },
  {
    name: 'udp-nul-in-request-line',
    attacks: 'a NUL byte inside the Request-URI (To still names the bot)',
    via: 'udp',
    build: (c) =>
      request(c, 'MESSAGE', {
        transport: 'UDP',
        startLine: `MESSAGE sip:bot\u0000@parley.test SIP/2.0`,
        body: `${c.marker} nul`,
      }),
    // The Request-URI is refused (a control character), To is the bot: delivered.
    expect: { answer: 200, bot: 'message' },
  },
  {
    name: 'udp-missing-from',
    attacks: 'a MESSAGE without From, over UDP (the datagram parser, not the stream one)',
    via: 'udp',
    build: (c) =>
      request(c, 'MESSAGE', { transport: 'UDP', headers: { From: null }, body: c.marker }),
    expect: { answer: 'none', why: DROPPED },
  },
  {
    name: 'udp-missing-via',
    attacks: 'a MESSAGE without Via, over UDP (nowhere to send an answer)',
    via: 'udp',
    build: (c) =>
      request(c, 'MESSAGE', { transport: 'UDP', headers: { Via: null }, body: c.marker }),
    expect: { answer: 'none', why: DROPPED },
  },
  {
    name: 'udp-response-to-unknown-transaction',
    attacks: 'a 486 Busy Here for no transaction, over UDP',
    via: 'udp',
    build: (c) => request(c, 'INVITE', { transport: 'UDP', startLine: 'SIP/2.0 486 Busy Here' }),
    expect: {
      answer: 'none',
      why: 'responses are never answered; one matching no transaction is dropped',
    },
  },
]

export const tcpStreamCases: SipCase[] = [
  {
    name: 'tcp-crlf-keepalive',
    attacks: 'a CRLF CRLF keep-alive ping on a TCP connection (RFC 5626 §4.4.1)',
    via: 'tcp',
    build: () => '\r\n\r\n',
    expect: {
      answer: 'none',
      why: 'RFC 5626 asks for a CRLF pong; the package ignores the ping (no response is due either way)',
    },
  },
  {
    name: 'tcp-crlf-keepalives-then-request',
    attacks: '1,000 CRLF keep-alives, then an OPTIONS on the same connection',
    via: 'tcp',
    build: (c) => ['\r\n'.repeat(2000), request(c, 'OPTIONS')],
    pauseMs: 20,
    expect: { answer: 200 },
  },
  {
    name: 'tcp-tls-client-hello',
    attacks: 'a TLS ClientHello on the plain TCP port',
    via: 'tcp',
    build: () =>
      Buffer.concat([
        Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]),
        junk(160, 5),
      ]),
    expect: { answer: 'none', why: NOT_SIP },
  },
  {
    name: 'tcp-http-request',
    attacks: 'an HTTP/1.1 request (a port scanner, a misrouted proxy)',
    via: 'tcp',
    build: () => 'GET / HTTP/1.1\r\nHost: parley.test\r\nUser-Agent: corpus\r\n\r\n',
    expect: { answer: 'none', why: NOT_SIP },
  },
  {
    name: 'tcp-request-dribbled-byte-by-byte',
    attacks: 'a MESSAGE written one byte at a time (slowloris style)',
    via: 'tcp',
    build: (c) => {
      const bytes = request(c, 'MESSAGE', { body: `${c.marker} dribbled` })
      return Array.from(bytes, (b) => Buffer.from([b]))
    },
    pauseMs: 1,
    expect: { answer: 200, bot: 'message' },
  },
  {
    name: 'tcp-200-pipelined-options',
    attacks: '200 OPTIONS requests in one write',
    via: 'tcp',
    build: (c) =>
      Buffer.concat(
        Array.from({ length: 200 }, (_, i) =>
          request({ ...c, callId: `${c.callId}-${i}`, branch: `${c.branch}x${i}` }, 'OPTIONS'),
        ),
      ),
    expect: { answer: 200, answers: 200 },
  },
  {
    name: 'tcp-headers-never-end',
    attacks: 'a request whose headers never end, just under the 60 kB header limit',
    via: 'tcp',
    build: (c) => `MESSAGE ${c.bot} SIP/2.0\r\n${'X-Pad: padding\r\n'.repeat(3700)}`,
    expect: {
      answer: 'none',
      why: 'the message is not complete; the connection waits for the rest',
    },
  },
  {
    name: 'tcp-12000-tiny-blocks',
    attacks:
      "12,000 'x CRLF CRLF' blocks in one 60 kB write: the package's stream parser recurses once per block",
    via: 'tcp',
    alone: true,
    fixed:
      "sip 0.0.6 makeStreamParser called itself once per CRLF CRLF block it could not parse; 12,000 blocks overflowed the stack inside the socket's 'data' handler and ended the host (patches/sip+0.0.6.patch: a loop)",
    build: () => 'x\r\n\r\n'.repeat(12_000),
    expect: { answer: 'none', why: NOT_SIP },
  },
]
