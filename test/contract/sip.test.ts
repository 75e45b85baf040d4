/**
 * plugins/sip against the conformance suite, with a real Kamailio as the
 * provider cloud (aol.test, yahoo.test, live.test) that routes the
 * parley.test domain to the plugin's TCP listener, and `alice`, a registered
 * aol.test user, as the other side.
 *
 * Wire garbage comes three ways:
 * - through Kamailio from SIP users: alice (a registered provider user) and
 *   eve (a user of a domain the edge has no federation route to), plus
 *   hand-written requests on a raw TCP connection to Kamailio;
 * - straight onto the plugin's TCP listener: raw bytes and malformed requests;
 * - in a real subscription dialog: the plugin subscribes to
 *   `mallory@rogue.test`, a federation peer (a bare SIP stack) that answers
 *   and then sends broken NOTIFYs (PIDF that is not XML, wrong namespace...).
 *
 * SIP answers are collected while the garbage is thrown and checked in
 * `afterGarbage` (the hook without a `t`). The package's own console noise
 * ("Flood attempt, destroying stream", "err: remote peer disconnected") is
 * expected here.
 *
 * The suite gets the plugin's own definition with `create` wrapped to keep
 * the last connection (the garbage hook makes it subscribe), and configs with
 * the schema's defaults filled in, as the host passes them.
 */
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import t from 'tap'
import { Value } from 'typebox/value'
import {
  type AddressString,
  type Connection,
  definePlugin,
  parseAddress,
} from '../../core/contract/index.js'
import { freePort, startKamailio } from '../peers/kamailio.js'
import {
  buildPidf,
  connectSipUser,
  createSipStack,
  type SipMessage,
  stringifyUri,
  toWire,
} from '../peers/sip-user.js'
import { runConformance } from './conformance.js'

/** Every SIP endpoint in this process has its own loopback address (see sip-user.ts). */
const PARLEY = '127.0.0.21'
const ALICE = '127.0.0.22'
const EVE = '127.0.0.23'
const ROGUE = '127.0.0.24'
/** Raw TCP clients (not SIP stacks). */
const RAW = '127.0.0.25'

const DOMAIN = 'parley.test'
const MALLORY = 'sip:mallory@rogue.test'
/** Largest body the edge takes (the schema minimum is 1024); Kamailio reads at most 16 kB per TCP message. */
const MAX_BODY = 4096

const parleyPort = await freePort(PARLEY)
const kamailio = await startKamailio({
  parleyTarget: { address: PARLEY, port: parleyPort, transport: 'tcp' },
})
t.teardown(() => kamailio.stop())

// Users stop before Kamailio (teardowns run last-in first-out): see sip-user.ts.
const alice = await connectSipUser({
  kamailio,
  username: 'alice',
  domain: 'aol.test',
  address: ALICE,
  transport: 'tcp',
})
t.teardown(() => alice.stop())
// Not registered: eve@elsewhere.test only sends, through Kamailio, from a domain the edge has no route to.
const eve = await connectSipUser({
  kamailio,
  username: 'eve',
  domain: 'elsewhere.test',
  address: EVE,
  transport: 'tcp',
  register: false,
})
t.teardown(() => eve.stop())

/** rogue.test: a federation peer the edge reaches directly; it accepts SUBSCRIBEs and answers the rest 200. */
const rogueTag = randomBytes(6).toString('hex')
const rogueSubscribes: SipMessage[] = []
const rogueWaiters = new Set<() => void>()
const rogue = await createSipStack({ address: ROGUE, transport: 'tcp', name: 'rogue' }, (rq) => {
  if (rq.method === 'ACK') return
  if (rq.method === 'SUBSCRIBE') {
    rogue.respond(rq, 200, 'OK', {
      headers: {
        to: { ...rq.headers.to, params: { ...rq.headers.to.params, tag: rogueTag } },
        contact: [{ uri: `sip:mallory@${ROGUE}:${rogue.port};transport=tcp`, params: {} }],
        expires: String(rq.headers.expires ?? 600),
      },
    })
    rogueSubscribes.push(rq)
    for (const wake of [...rogueWaiters]) wake()
    return
  }
  rogue.respond(rq, 200, 'OK')
})
t.teardown(() => rogue.close())

const base = () => ({
  network: 'sip',
  domain: DOMAIN,
  identities: ['bot'],
  listen: { address: PARLEY, port: parleyPort, udp: false, tcp: true },
  peers: [
    {
      domains: [...kamailio.domains],
      host: kamailio.address,
      port: kamailio.tcpPort,
      transport: 'tcp' as const,
    },
    { domains: ['rogue.test'], host: ROGUE, port: rogue.port, transport: 'tcp' as const },
  ],
  requestTimeoutMs: 5000,
  maxBodyBytes: MAX_BODY,
})

const plugin = (await import('../../plugins/sip/index.js')).default
/** The host fills in the schema's defaults before `create` (core/loader/validate-plugin.ts); so do we. */
const filled = (config: Record<string, unknown>) =>
  Value.Default(plugin.configSchema, structuredClone(config)) as Record<string, unknown>

/**
 * The connection under test: the suite opens one at a time, and the garbage
 * hook needs the last one (to make it subscribe to rogue.test). The plugin's
 * own definition, with `create` recording what it returns.
 */
let current: Connection | undefined
const recording = definePlugin({
  ...plugin,
  create: (ctx, config) => {
    current = plugin.create(ctx, config)
    return current
  },
})

/** The SIP URI behind an identity (`sip:sip:bot@parley.test` -> `sip:bot@parley.test`). */
const uriOf = (identity: AddressString) => parseAddress(identity).id

/** What an answer should have been, and what it was (`none`: no answer in time). */
interface Answer {
  label: string
  expected: number | 'none' | 'any'
  actual: number | 'none'
}
const answers: Answer[] = []
const record = (label: string, expected: Answer['expected'], actual: Answer['actual']) => {
  answers.push({ label, expected, actual })
}

const hex = () => randomBytes(8).toString('hex')

/**
 * A request as text: the usual headers, `headers` replacing them by name
 * (case-insensitive) or removing them (`null`), extra ones appended.
 */
function rawRequest(
  method: string,
  uri: string,
  options: { headers?: Record<string, string | null>; body?: string | Buffer } = {},
): Buffer {
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body
  const defaults: Record<string, string> = {
    Via: `SIP/2.0/TCP ${RAW}:5060;branch=z9hG4bK${hex()};rport`,
    'Max-Forwards': '70',
    From: `<sip:alice@aol.test>;tag=${hex()}`,
    To: `<${uri}>`,
    'Call-ID': `${hex()}@raw.test`,
    CSeq: `1 ${method}`,
    'Content-Type': 'text/plain',
    'Content-Length': String(body?.length ?? 0),
  }
  const overrides = Object.fromEntries(
    Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
  )
  const lines = [`${method} ${uri} SIP/2.0`]
  for (const [name, value] of Object.entries(defaults)) {
    const override = overrides[name.toLowerCase()]
    if (override === null) continue
    lines.push(`${name}: ${override ?? value}`)
    delete overrides[name.toLowerCase()]
  }
  for (const [name, value] of Object.entries(overrides))
    if (value !== null) lines.push(`${name}: ${value}`)
  return Buffer.concat([
    Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'),
    body ?? Buffer.alloc(0),
  ])
}

/**
 * Writes `data` on a new TCP connection to `host:port` and returns the first
 * response's status (`none` if nothing came within `waitMs`, or the far end
 * closed the connection first).
 */
function rawExchange(
  host: string,
  port: number,
  data: Buffer | string,
  waitMs = 1500,
): Promise<number | 'none'> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, localAddress: RAW })
    let received = ''
    let settled = false
    const finish = () => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      // The final answer: skip 100 Trying and friends.
      const finals = [...received.matchAll(/^SIP\/2\.0 (\d{3})/gm)]
        .map((m) => Number(m[1]))
        .filter((s) => s >= 200)
      resolve(finals[0] ?? 'none')
    }
    const timer = setTimeout(finish, waitMs)
    socket.setEncoding('latin1')
    socket.on('connect', () => socket.write(data))
    socket.on('data', (chunk: string) => {
      received += chunk
      if (/^SIP\/2\.0 [2-6]\d\d/m.test(received)) finish()
    })
    socket.on('error', finish)
    socket.on('close', finish)
  })
}

const toEdge = (data: Buffer | string, waitMs?: number) =>
  rawExchange(PARLEY, parleyPort, data, waitMs)
const toKamailio = (data: Buffer | string, waitMs?: number) =>
  rawExchange(kamailio.address, kamailio.tcpPort, data, waitMs)

/** PIDF bodies the edge cannot use. */
const PIDF_NS = 'urn:ietf:params:xml:ns:pidf'
const badPidfs: Array<[string, string, string]> = [
  ['not XML', 'application/pidf+xml', 'this is not XML at all <<< & >>>'],
  [
    'truncated XML',
    'application/pidf+xml',
    `<?xml version="1.0"?><presence xmlns="${PIDF_NS}" entity="${MALLORY}"><tuple id="t"><status><basic>op`,
  ],
  [
    'entity expansion (billion laughs)',
    'application/pidf+xml',
    [
      '<?xml version="1.0"?>',
      '<!DOCTYPE presence [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">',
      '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>',
      `<presence xmlns="${PIDF_NS}" entity="${MALLORY}"><tuple id="t"><status><basic>open</basic></status></tuple><note>&d;&d;&d;</note></presence>`,
    ].join('\n'),
  ],
  [
    'wrong namespace',
    'application/pidf+xml',
    `<presence xmlns="urn:example:not-pidf" entity="${MALLORY}"><tuple id="t"><status><basic>open</basic></status></tuple></presence>`,
  ],
  ['PIDF labelled text/html', 'text/html', buildPidf(MALLORY, 'open', 'html?')],
  [
    'entity not a URI',
    'application/pidf+xml',
    `<presence xmlns="${PIDF_NS}" entity="not a uri"><tuple id="t"><status><basic>open</basic></status></tuple></presence>`,
  ],
  ['empty document', 'application/pidf+xml', '   '],
  ['binary', 'application/pidf+xml', randomBytes(512).toString('latin1')],
]
const ROGUE_NOTE = 'rogue but valid: ünïcödé'

/** In the plugin's subscription to mallory@rogue.test: NOTIFYs from rogue.test straight to the edge. */
async function garbageInDialog(conn: Connection, identity: AddressString): Promise<void> {
  const seen = rogueSubscribes.length
  const subscribed = conn.subscribe?.({ from: identity, to: `sip:${MALLORY}` })
  const subscribe = await new Promise<SipMessage>((resolve, reject) => {
    const timer = setTimeout(() => {
      rogueWaiters.delete(wake)
      reject(new Error('rogue.test never got a SUBSCRIBE from the edge'))
    }, 5000)
    const wake = () => {
      const rq = rogueSubscribes[seen]
      if (!rq) return
      clearTimeout(timer)
      rogueWaiters.delete(wake)
      resolve(rq)
    }
    rogueWaiters.add(wake)
    wake()
  })
  await subscribed
  const contact = Array.isArray(subscribe.headers.contact)
    ? subscribe.headers.contact[0]
    : undefined
  if (!contact) throw new Error('the edge sent a SUBSCRIBE without Contact')
  const target = typeof contact.uri === 'string' ? contact.uri : stringifyUri(contact.uri)
  let seq = 0
  const notify = async (
    label: string,
    expected: number,
    options: {
      state?: string | null
      contentType?: string
      body?: string
      callId?: string
    },
  ) => {
    const headers: SipMessage['headers'] = {
      to: { ...subscribe.headers.from, params: { ...subscribe.headers.from.params } },
      from: { uri: MALLORY, params: { tag: rogueTag } },
      'call-id': options.callId ?? subscribe.headers['call-id'],
      cseq: { method: 'NOTIFY', seq: ++seq },
      contact: [{ uri: `sip:mallory@${ROGUE}:${rogue.port};transport=tcp`, params: {} }],
      'max-forwards': 70,
      event: 'presence',
    }
    if (options.state !== null)
      headers['subscription-state'] = options.state ?? 'active;expires=600'
    if (options.contentType) headers['content-type'] = options.contentType
    const m: SipMessage = { method: 'NOTIFY', uri: target, headers }
    if (options.body !== undefined) m.content = toWire(options.body)
    const rs = await rogue.request(m, 3000)
    record(`rogue NOTIFY: ${label}`, expected, rs.status ?? 'none')
  }
  for (const [label, contentType, body] of badPidfs)
    await notify(`PIDF ${label}`, 200, { contentType, body })
  await notify('unknown Subscription-State', 200, { state: 'bogus;expires=soon' })
  await notify('no Subscription-State', 200, { state: null })
  await notify('active without a body', 200, {})
  await notify('unknown dialog (Call-ID)', 481, {
    callId: `${hex()}@rogue.test`,
    contentType: 'application/pidf+xml',
    body: 'not xml either',
  })
  await notify('valid PIDF', 200, {
    contentType: 'application/pidf+xml',
    body: buildPidf(MALLORY, 'open', ROGUE_NOTE),
  })
  await notify('terminated;reason=rejected', 200, { state: 'terminated;reason=rejected' })
  // Quietly, before the edge closes them at stop (see SipStack.dropConnections).
  rogue.dropConnections()
}

/** Through Kamailio, as the provider's users send them. */
async function garbageThroughKamailio(identity: AddressString): Promise<void> {
  const to = uriOf(identity)
  const viaAlice = async (
    label: string,
    expected: Answer['expected'],
    send: () => Promise<{ status: number } | number>,
  ) => {
    const result = await send()
    record(`alice: ${label}`, expected, typeof result === 'number' ? result : result.status)
  }
  await viaAlice('MESSAGE application/xml', 415, () =>
    alice.message(to, '<x/>', { contentType: 'application/xml' }),
  )
  await viaAlice('MESSAGE Content-Type without a subtype', 415, () =>
    alice.message(to, 'hello', { contentType: 'text' }),
  )
  await viaAlice('MESSAGE Content-Type that is not a media type', 415, () =>
    alice.message(to, 'hello', { contentType: ';;;==;' }),
  )
  await viaAlice('MESSAGE multipart/mixed', 415, () =>
    alice.message(to, '--b\r\n\r\nx\r\n--b--', { contentType: 'multipart/mixed;boundary=b' }),
  )
  await viaAlice(`MESSAGE body over maxBodyBytes (${MAX_BODY * 2} bytes)`, 413, () =>
    alice.message(to, 'x'.repeat(MAX_BODY * 2)),
  )
  await viaAlice('MESSAGE to an unknown user of the Parley domain', 404, () =>
    alice.message(`sip:nobody@${DOMAIN}`, 'anyone?'),
  )
  await viaAlice('MESSAGE with control characters and bidi overrides', 200, () =>
    alice.message(to, '\u0000\u0007\u001b[31m\u202eRTL\u200b <&> "\''),
  )
  for (const method of ['FOO', 'INFO', 'UPDATE', 'PRACK', 'REFER', 'PUBLISH', 'REGISTER']) {
    await viaAlice(`unknown or unsupported method ${method}`, 405, () =>
      alice.request(method, to, { body: 'x', contentType: 'text/plain' }),
    )
  }
  await viaAlice('SUBSCRIBE Event: dialog', 489, () =>
    alice.request('SUBSCRIBE', to, { headers: { event: 'dialog', expires: '60' } }),
  )
  await viaAlice('SUBSCRIBE without Event', 489, () =>
    alice.request('SUBSCRIBE', to, { headers: { expires: '60' } }),
  )
  await viaAlice('NOTIFY for an unknown dialog', 481, () =>
    alice.request('NOTIFY', to, {
      headers: { event: 'presence', 'subscription-state': 'active;expires=60' },
      contentType: 'application/pidf+xml',
      body: buildPidf('sip:alice@aol.test', 'open'),
    }),
  )
  await viaAlice('NOTIFY whose PIDF is not XML, unknown dialog', 481, () =>
    alice.request('NOTIFY', to, {
      headers: { event: 'presence', 'subscription-state': 'active;expires=60' },
      contentType: 'application/pidf+xml',
      body: '<presence><<<not xml',
    }),
  )
  await viaAlice('INVITE with audio', 488, () =>
    alice.request('INVITE', to, {
      contentType: 'application/sdp',
      body: 'v=0\r\no=- 1 1 IN IP4 127.0.0.22\r\ns=-\r\nc=IN IP4 127.0.0.22\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n',
    }),
  )
  await viaAlice('INVITE whose SDP is garbage', 488, () =>
    alice.request('INVITE', to, { contentType: 'application/sdp', body: 'm=\r\n\u0000\u00ff' }),
  )
  await viaAlice('OPTIONS', 200, () => alice.request('OPTIONS', to))
  // A watcher: held pending (202), the host is asked; stop() ends it.
  await viaAlice('SUBSCRIBE presence (pending)', 202, async () =>
    alice.subscribe(to, 120).then((s) => ({ status: s.status })),
  )

  // eve@elsewhere.test: a domain the edge has no federation route to.
  const viaEve = async (label: string, expected: Answer['expected'], status: Promise<number>) =>
    record(`eve: ${label}`, expected, await status)
  await viaEve('MESSAGE from a domain without a route', 200, eve.message(to, 'from elsewhere'))
  await viaEve(
    'SUBSCRIBE presence from a domain without a route',
    202,
    eve.subscribe(to, 120).then((s) => s.status),
  )

  // Hand-written requests on a raw connection to Kamailio.
  const viaKamailio = async (label: string, expected: Answer['expected'], data: Buffer) =>
    record(`raw to Kamailio: ${label}`, expected, await toKamailio(data, 1500))
  const route = { Route: `<${kamailio.route('tcp')}>` }
  await viaKamailio(
    'MESSAGE without From',
    'any',
    rawRequest('MESSAGE', to, { headers: { ...route, From: null }, body: 'no from' }),
  )
  await viaKamailio(
    'MESSAGE with a From that is no URI',
    'any',
    rawRequest('MESSAGE', to, { headers: { ...route, From: '<<<>>>;tag=1' }, body: 'bad from' }),
  )
  await viaKamailio(
    'MESSAGE From a tel: URI',
    400,
    rawRequest('MESSAGE', to, {
      headers: { ...route, From: '<tel:+15551234>;tag=1' },
      body: 'tel',
    }),
  )
  await viaKamailio(
    'MESSAGE with invalid UTF-8',
    200,
    rawRequest('MESSAGE', to, {
      headers: { ...route, 'Content-Type': 'text/plain; charset=utf-8' },
      body: Buffer.from([0x68, 0x69, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]),
    }),
  )
  await viaKamailio(
    'MESSAGE whose Content-Length exceeds the body',
    'any',
    rawRequest('MESSAGE', to, {
      headers: { ...route, 'Content-Length': '99999999' },
      body: 'short',
    }),
  )
}

/** Straight onto the edge's TCP listener, bypassing Kamailio. */
async function garbageOnTheSocket(identity: AddressString): Promise<void> {
  const to = uriOf(identity)
  const direct = async (label: string, expected: Answer['expected'], data: Buffer | string) =>
    record(
      `raw to the edge: ${label}`,
      expected,
      await toEdge(data, expected === 'none' ? 400 : 2000),
    )
  await direct('NUL and control bytes', 'none', '\x00\x01\x02garbage\r\n\r\n')
  await direct('4 kB of random bytes', 'none', randomBytes(4096))
  await direct('a bare method', 'none', 'INVITE\r\n\r\n')
  await direct('headers without an end', 'none', `MESSAGE ${to} SIP/2.0\r\nVia: SIP/2.0/TCP x`)
  await direct('70 kB header line', 'none', `MESSAGE ${to} SIP/2.0\r\nX: ${'a'.repeat(70_000)}\r\n`)
  await direct(
    'huge Content-Length',
    'none',
    rawRequest('MESSAGE', to, { headers: { 'Content-Length': '99999999' }, body: 'x' }),
  )
  await direct(
    'non-numeric Content-Length',
    'any',
    rawRequest('MESSAGE', to, { headers: { 'Content-Length': 'abc' }, body: 'x' }),
  )
  await direct(
    'negative Content-Length',
    'any',
    rawRequest('MESSAGE', to, { headers: { 'Content-Length': '-5' }, body: 'x' }),
  )
  await direct(
    'MESSAGE without From',
    'none',
    rawRequest('MESSAGE', to, { headers: { From: null } }),
  )
  await direct('MESSAGE without Via', 'none', rawRequest('MESSAGE', to, { headers: { Via: null } }))
  await direct(
    'MESSAGE without Call-ID and CSeq',
    'none',
    rawRequest('MESSAGE', to, { headers: { 'Call-ID': null, CSeq: null } }),
  )
  await direct(
    'MESSAGE from a tel: URI',
    400,
    rawRequest('MESSAGE', to, { headers: { From: '<tel:+15551234>;tag=1' }, body: 'tel' }),
  )
  await direct(
    'MESSAGE to a Request-URI that is no URI',
    404,
    rawRequest('MESSAGE', '::::', { headers: { To: '<sip:nobody@nowhere.test>' }, body: 'x' }),
  )
  await direct(
    'MESSAGE with a garbage CSeq',
    'any',
    rawRequest('MESSAGE', to, { headers: { CSeq: 'many MESSAGE' }, body: 'cseq' }),
  )
  await direct(
    'MESSAGE application/octet-stream',
    415,
    rawRequest('MESSAGE', to, {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: randomBytes(64),
    }),
  )
  await direct(
    `MESSAGE body over maxBodyBytes (${MAX_BODY + 1} bytes)`,
    413,
    rawRequest('MESSAGE', to, { body: 'y'.repeat(MAX_BODY + 1) }),
  )
  await direct('unknown method', 405, rawRequest('DANCE', to))
  await direct('ACK for nothing', 'none', rawRequest('ACK', to))
  // RFC 3261 §9.2: a CANCEL matching no transaction gets 481 (the edge answers INVITEs at once).
  await direct('CANCEL for nothing', 481, rawRequest('CANCEL', to))
  // RFC 3261 §15.1.2: a BYE outside any dialog gets 481.
  await direct('BYE for an unknown dialog', 481, rawRequest('BYE', to))
  await direct(
    'SUBSCRIBE Event: dialog',
    489,
    rawRequest('SUBSCRIBE', to, { headers: { Event: 'dialog', Expires: '60' } }),
  )
  await direct(
    'NOTIFY for an unknown dialog, PIDF not XML',
    481,
    rawRequest('NOTIFY', to, {
      headers: {
        Event: 'presence',
        'Subscription-State': 'active',
        'Content-Type': 'application/pidf+xml',
      },
      body: '{"presence": "json?"}',
    }),
  )
  await direct(
    'a response to nothing',
    'none',
    rawRequest('MESSAGE', to)
      .toString('latin1')
      .replace(/^[^\r]*/, 'SIP/2.0 200 OK'),
  )
  // Two requests in one write: the parser splits them (the first answer is checked).
  await direct(
    'two pipelined requests (first answered)',
    405,
    Buffer.concat([rawRequest('DANCE', to), rawRequest('DANCE', to)]),
  )
}

await runConformance(t, {
  name: 'sip',
  // Requests go through Kamailio and, for garbage, wait out SIP timeouts: more slack than the 5 s default.
  timeoutMs: 10_000,
  loadPlugin: async () => recording,
  makeConfig: async () => filled(base()),
  sendTo: 'sip:sip:alice@aol.test',
  makeUnreachableConfig: async () => {
    const nobody = await freePort(kamailio.address)
    return filled({
      ...base(),
      peers: [
        { domains: [...kamailio.domains], host: kamailio.address, port: nobody, transport: 'tcp' },
      ],
    })
  },
  // SIP federation authenticates peers by mutual TLS: the edge presents a
  // certificate from a CA Kamailio does not trust (tls-ca.ts `rogue`).
  makeBadCredentialsConfig: async () =>
    filled({
      ...base(),
      listen: {
        address: PARLEY,
        port: parleyPort,
        udp: false,
        tcp: true,
        tlsPort: await freePort(PARLEY),
      },
      tls: {
        cert: kamailio.ca.rogue.certFile,
        key: kamailio.ca.rogue.keyFile,
        ca: kamailio.ca.caFile,
        requireClientCert: true,
      },
      peers: [
        {
          domains: [...kamailio.domains],
          host: kamailio.address,
          port: kamailio.tlsPort,
          transport: 'tls',
        },
      ],
    }),
  ids: {
    valid: [
      ['Alice@AOL.Test', 'sip:Alice@aol.test'],
      ['"Alice" <sips:alice@AOL.test:5061;transport=tls>;tag=1', 'sip:alice@aol.test'],
      ['sip:%61lice@aol.test.', 'sip:alice@aol.test'],
    ],
    invalid: [
      'alice',
      'sip:alice:secret@aol.test',
      '@aol.test',
      'alice@',
      'tel:+15551234',
      'xmpp:alice@aol.test',
      'sip:alice@bad_host',
    ],
  },
  async sendFromPeer(identity, text) {
    const status = await alice.message(uriOf(identity), text)
    // 5xx: the host refused it and the edge said so (the suite's refusing host).
    if (status >= 300 && status < 500)
      throw new Error(
        `alice's MESSAGE to ${uriOf(identity)}: ${status}\n${await kamailio.logTail(10)}`,
      )
  },
  async injectGarbage(identity) {
    answers.length = 0
    const conn = current
    if (!conn) throw new Error('no connection under test')
    await garbageThroughKamailio(identity)
    await garbageOnTheSocket(identity)
    await garbageInDialog(conn, identity)
  },
  afterGarbage(t, ctx) {
    for (const { label, expected, actual } of answers) {
      if (expected === 'any') continue
      t.equal(actual, expected, `${label}: ${expected === 'none' ? 'no answer' : expected}`)
    }
    const warnings = ctx.logs.filter(
      (l) => l.level === 'warn' && l.obj.code === 'PARLEY_ERR_WIRE_INVALID',
    )
    t.ok(
      warnings.length > 0,
      `unusable input logged with PARLEY_ERR_WIRE_INVALID (${warnings.length})`,
    )
    const ignored = ctx.logs.filter(
      (l) =>
        l.obj.code === 'PARLEY_ERR_WIRE_INVALID' && l.msg === 'unusable presence document ignored',
    )
    t.ok(
      ignored.length >= 5,
      `unusable PIDF documents logged and ignored (${ignored.length} of ${badPidfs.length})`,
    )
    const fromMallory = ctx.emitted.filter((e) => e.from === `sip:${MALLORY}`)
    t.same(
      fromMallory
        .filter((e) => e.type === 'presence')
        .map((e) => e.type === 'presence' && [e.availability, e.status]),
      [['available', ROGUE_NOTE]],
      'one presence event from rogue.test: the valid PIDF only',
    )
    t.same(
      fromMallory
        .filter((e) => e.type === 'subscription')
        .map((e) => e.type === 'subscription' && e.action),
      ['approved', 'refused'],
      'the subscription to rogue.test: approved, then refused',
    )
    t.ok(
      ctx.emitted.some(
        (e) =>
          e.type === 'message' &&
          e.from === 'sip:sip:eve@elsewhere.test' &&
          e.text === 'from elsewhere',
      ),
      'a MESSAGE from a domain without a route is still delivered',
    )
    t.ok(
      ctx.emitted.some(
        (e) =>
          e.type === 'message' &&
          e.from === 'sip:sip:alice@aol.test' &&
          e.text.startsWith('hi\ufffd'),
      ),
      'invalid UTF-8 arrives with replacement characters',
    )
    t.ok(
      ctx.emitted.some(
        (e) =>
          e.type === 'subscription' &&
          e.action === 'request' &&
          e.from === 'sip:sip:alice@aol.test',
      ),
      "alice's SUBSCRIBE asks the host",
    )
    t.notOk(
      ctx.emitted.some(
        (e) => e.type === 'message' && ['<x/>', 'tel', 'no from', 'bad from'].includes(e.text),
      ),
      'nothing emitted for refused MESSAGEs',
    )
  },
})
