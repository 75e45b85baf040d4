import { connect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import t, { type Test } from 'tap'
import type { Presence } from '../../core/contract/index.js'
import { testApp, waitFor } from '../helpers/app.js'
import { freePort, type KamailioPeer, startKamailio } from '../peers/kamailio.js'
import { buildPidf, connectSipUser, type SipTransport, type SipUser } from '../peers/sip-user.js'
import { createTestCa, type TestCa } from '../peers/tls-ca.js'

/**
 * The provider profiles (plugins/aol, plugins/yahoo, plugins/windows-live)
 * end to end over the SIP edge against a real Kamailio playing the provider
 * cloud: each profile's network name and addresses, IM both ways with the
 * echo bot, mutual TLS between the provider's proxy and Parley, Yahoo!'s
 * PIC licence, a retired provider left unstarted, audio/video refusals and
 * presence.
 *
 * Loopback addresses of their own (sip.test.ts and kamailio.test.ts use
 * 127.0.0.2-9), so the files can run side by side.
 */
const KAMAILIO = '127.0.0.10'
const PARLEY = '127.0.0.11'
const USER = '127.0.0.12'
const TLS_USER = '127.0.0.13'

type App = Awaited<ReturnType<typeof testApp>>
type Profile = 'aol' | 'yahoo' | 'windows-live'

/** The Kamailio test domain standing in for each provider's real ones. */
const TEST_DOMAIN: Record<Profile, string> = {
  aol: 'aol.test',
  yahoo: 'yahoo.test',
  'windows-live': 'live.test',
}

const BOT = 'sip:bot@parley.test'

interface WorldOptions {
  /** Profile options over the defaults (allowRetired, licensed, identities...). */
  options?: Record<string, unknown>
  /** Mutual TLS between Kamailio and Parley (both directions), and a TLS user. */
  tls?: boolean
}

interface World {
  app: App
  kamailio: KamailioPeer
  user: SipUser
  ca: TestCa
  parleyPort: number
  parleyTlsPort: number
}

/** Kamailio, then the host running `profile` (its network is the profile's name), then a user. */
async function world(t: Test, profile: Profile, o: WorldOptions = {}): Promise<World> {
  const domain = TEST_DOMAIN[profile]
  const ca = await createTestCa({ kamailioIps: [KAMAILIO], parleyIps: [PARLEY] })
  t.teardown(() => ca.remove())
  const parleyPort = await freePort(PARLEY)
  let parleyTlsPort = await freePort(PARLEY)
  while (parleyTlsPort === parleyPort) parleyTlsPort = await freePort(PARLEY)
  const transport: SipTransport = o.tls ? 'tls' : 'tcp'
  const kamailio = await startKamailio({
    address: KAMAILIO,
    ca,
    parleyTarget: {
      address: PARLEY,
      port: o.tls ? parleyTlsPort : parleyPort,
      transport,
    },
  })
  t.teardown(() => kamailio.stop())
  const app = await testApp(t, {
    plugins: [
      {
        name: profile,
        options: {
          domain: 'parley.test',
          identities: ['bot'],
          listen: {
            address: PARLEY,
            port: parleyPort,
            ...(o.tls && { tlsPort: parleyTlsPort }),
          },
          ...(o.tls && {
            tls: { cert: ca.parley.certFile, key: ca.parley.keyFile, ca: ca.caFile },
          }),
          proxy: { host: KAMAILIO, port: kamailio.port(transport), transport },
          domains: [domain],
          ...o.options,
        },
      },
    ],
    bots: [{ name: 'echo', identities: [`${profile}:${BOT}`] }],
    presence: { dbFlushMs: 50 },
  })
  const user = await connectSipUser({
    kamailio,
    username: 'alice',
    domain,
    address: o.tls ? TLS_USER : USER,
    transport,
  })
  t.teardown(() => user.stop())
  return { app, kamailio, user, ca, parleyPort, parleyTlsPort }
}

const get = async (app: App, url: string) => (await app.inject({ method: 'GET', url })).json()

const received = (user: SipUser, text: string) =>
  user.waitFor((rq) => rq.method === 'MESSAGE' && rq.body === text, 10_000)

/** POST /v1/messages; resolves with the record once it is no longer queued. */
async function post(app: App, payload: { from?: string; to: string; text: string }) {
  const res = await app.inject({ method: 'POST', url: '/v1/messages', payload })
  if (res.statusCode !== 202) throw new Error(`POST /v1/messages: ${res.statusCode} ${res.body}`)
  const id = res.json().id as string
  return waitFor(`message ${id} settled`, async () => {
    const r = await get(app, `/v1/messages/${id}`)
    return r.status === 'sent' || r.status === 'failed' ? r : undefined
  })
}

/** A raw TLS client to Parley's TLS port: what happened to it. */
function rawTls(port: number, ca: TestCa, cert?: { key: string; cert: string }): Promise<string> {
  return new Promise<string>((resolve) => {
    let answer = ''
    let settled = false
    const done = (outcome: string) => {
      if (settled) return
      settled = true
      socket.destroy()
      resolve(outcome)
    }
    const socket = tlsConnect({ host: PARLEY, port, ca: ca.ca, ...cert })
    socket.on('secureConnect', () => {
      socket.write(
        `OPTIONS sip:bot@parley.test SIP/2.0\r\nVia: SIP/2.0/TLS ${PARLEY}:5061;branch=z9hG4bK-raw${Date.now()}\r\nFrom: <sip:x@live.test>;tag=1\r\nTo: <sip:bot@parley.test>\r\nCall-ID: raw-${Date.now()}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
      )
    })
    socket.on('data', (d: Buffer) => {
      answer += d.toString()
      if (/\r\n\r\n/.test(answer)) done(`answered: ${answer.split('\r\n')[0]}`)
    })
    socket.on('error', (err: NodeJS.ErrnoException) => done(`error: ${err.code ?? err.message}`))
    socket.on('close', () => done(answer ? `answered: ${answer}` : 'closed'))
    socket.setTimeout(3000, () => done('timeout'))
  })
}

const SDP_AUDIO = [
  'v=0',
  `o=- 1 1 IN IP4 ${USER}`,
  's=call',
  `c=IN IP4 ${USER}`,
  't=0 0',
  'm=audio 4000 RTP/AVP 0',
  '',
].join('\r\n')

const PROFILES: { name: Profile; options: Record<string, unknown> }[] = [
  { name: 'aol', options: { allowRetired: true } },
  { name: 'yahoo', options: { allowRetired: true, licensed: ['bot'] } },
  { name: 'windows-live', options: {} },
]

for (const { name, options } of PROFILES) {
  t.test(`${name}: IM both ways with the echo bot, under the profile's name`, async (t) => {
    const { app, user } = await world(t, name, { options })
    const domain = TEST_DOMAIN[name]
    const network = await get(app, `/v1/networks/${name}`)
    t.equal(network.status, 'online')
    t.same(network.identities, [`${name}:${BOT}`])

    t.equal(await user.message(BOT, `hello from ${name}, ünïcödé`), 200, 'accepted')
    const echo = await received(user, `echo: hello from ${name}, ünïcödé`)
    t.match(echo.from, /sip:bot@parley\.test/)

    const record = await post(app, {
      to: `${name}:sip:alice@${domain}`,
      text: `a note over ${name}`,
    })
    t.equal(record.status, 'sent', record.error ?? '')
    t.equal(record.network, name)
    t.equal(record.from, `${name}:${BOT}`)
    t.equal(record.to, `${name}:sip:alice@${domain}`)
    const note = await received(user, `a note over ${name}`)
    t.equal(note.from, BOT)

    // The inbound message was recorded with the profile's addresses.
    const inbound = (await get(app, `/v1/messages?direction=in&network=${name}`)).messages
    t.ok(
      inbound.some(
        (m: { from: string; to: string }) =>
          m.from === `${name}:sip:alice@${domain}` && m.to === `${name}:${BOT}`,
      ),
      'inbound record under the profile network',
    )
  })
}

t.test(
  'windows-live over mutual TLS: IM both ways; clients without a good certificate refused',
  async (t) => {
    const { app, user, ca, parleyPort, parleyTlsPort, kamailio } = await world(t, 'windows-live', {
      tls: true,
    })
    t.equal((await get(app, '/v1/networks/windows-live')).status, 'online')

    // In: Kamailio reaches Parley only through its TLS listener (parleyTarget transport tls).
    t.equal(await user.message(BOT, 'hello over TLS'), 200, 'accepted', {
      kamailioLog: await kamailio.logTail(10),
    })
    // Out: the echo leaves Parley over TLS to the provider's proxy.
    const echo = await received(user, 'echo: hello over TLS')
    const vias = (echo.message.headers.via ?? []) as {
      protocol?: string
      host?: string
      port?: number
    }[]
    const parleyVia = vias.find((v) => v.host === PARLEY)
    t.equal(String(parleyVia?.protocol).toUpperCase(), 'TLS', "Parley's hop is TLS")
    // RFC 3261 §18.2.2: a response that cannot use the connection goes to sent-by, over TLS.
    t.equal(Number(parleyVia?.port), parleyTlsPort, "Via sent-by is Parley's TLS port", {
      vias,
      parleyPort,
      parleyTlsPort,
    })
    const contact = (echo.message.headers.contact as { uri: string }[] | undefined)?.[0]?.uri
    t.match(contact, `@${PARLEY}:${parleyTlsPort};transport=tls`, "Contact: Parley's TLS listener")

    const record = await post(app, {
      to: 'windows-live:sip:alice@live.test',
      text: 'a note over TLS',
    })
    t.equal(record.status, 'sent', record.error ?? '')
    await received(user, 'a note over TLS')

    // Raw clients straight to Parley's TLS port.
    const good = await ca.issue('raw-good', { ips: ['127.0.0.1'], dns: ['live.test'] })
    t.match(
      await rawTls(parleyTlsPort, ca, good),
      /^answered: SIP\/2\.0 /,
      'a CA certificate gets SIP',
    )
    const none = await rawTls(parleyTlsPort, ca)
    t.match(none, /^error: /, `no certificate: handshake refused (${none})`)
    // Node's TLS server checks the chain after the handshake: under TLS 1.3 the
    // client may see its handshake complete, then the connection closed, no alert.
    const rogue = await rawTls(parleyTlsPort, ca, ca.rogue)
    t.match(rogue, /^(error: |closed$)/, `rogue certificate: refused (${rogue})`)

    // The edge still works afterwards.
    t.equal(await user.message(BOT, 'still there?'), 200)
    await received(user, 'echo: still there?')
  },
)

t.test('yahoo: only PIC-licensed identities reach Yahoo!, both ways', async (t) => {
  const { app, user } = await world(t, 'yahoo', {
    options: { allowRetired: true, identities: ['bot', 'nolicence'], licensed: ['bot'] },
  })
  t.same((await get(app, '/v1/networks/yahoo')).identities, [
    'yahoo:sip:bot@parley.test',
    'yahoo:sip:nolicence@parley.test',
  ])
  t.equal(await user.message('sip:nolicence@parley.test', 'anyone?'), 403, 'in: refused')

  const record = await post(app, {
    from: 'yahoo:sip:nolicence@parley.test',
    to: 'yahoo:sip:alice@yahoo.test',
    text: 'unlicensed note',
  })
  t.equal(record.status, 'failed')
  t.match(record.error, /PARLEY_ERR_PIC_LICENCE/)
  t.notOk(
    user.received.some((rq) => rq.body === 'unlicensed note'),
    'nothing reached the user',
  )

  t.equal(await user.message(BOT, 'licensed?'), 200)
  await received(user, 'echo: licensed?')
  const ok = await post(app, {
    from: 'yahoo:sip:bot@parley.test',
    to: 'yahoo:sip:alice@yahoo.test',
    text: 'licensed note',
  })
  t.equal(ok.status, 'sent', ok.error ?? '')
  await received(user, 'licensed note')
})

t.test('aol without allowRetired: retired, not listening; the provider gets no 200', async (t) => {
  const { app, user, parleyPort } = await world(t, 'aol')
  const view = await get(app, '/v1/networks/aol')
  t.equal(view.status, 'retired')
  t.equal(view.retired, '2014-06-30')
  t.equal(view.lastError?.code, 'PARLEY_ERR_PROVIDER_RETIRED')
  const probe = await new Promise<string>((resolve) => {
    const socket = connect(parleyPort, PARLEY)
    socket.on('connect', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
  })
  t.equal(probe, 'ECONNREFUSED', 'nothing listens on the edge port')

  const status = await user.message(BOT, 'is anyone there?')
  t.not(status, 200, `not delivered (${status})`)
  t.ok(status >= 400 && status < 600, `an error from the provider's proxy (${status})`)

  const res = await app.inject({
    method: 'POST',
    url: '/v1/messages',
    payload: { to: 'aol:sip:alice@aol.test', text: 'to a retired provider' },
  })
  t.not(res.statusCode, 202, `not queued (${res.statusCode} ${res.json().code})`)
  t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200, 'host up')
})

t.test('audio/video INVITE: windows-live answers 488, aol answers 415', async (t) => {
  for (const [name, options, expected] of [
    ['windows-live', {}, 488],
    ['aol', { allowRetired: true }, 415],
  ] as const) {
    await t.test(name, async (t) => {
      const { app, user } = await world(t, name, { options })
      const invite = await user.request('INVITE', BOT, {
        body: SDP_AUDIO,
        contentType: 'application/sdp',
      })
      t.equal(invite.status, expected)
      // The edge still does IM.
      t.equal(await user.message(BOT, 'after the call'), 200)
      await received(user, 'echo: after the call')
      t.equal((await get(app, `/v1/networks/${name}`)).status, 'online')
    })
  }
})

t.test('aol presence: Parley watches a provider user; PUBLISH reaches REST', async (t) => {
  const { app, user } = await world(t, 'aol', { options: { allowRetired: true } })
  const address = 'aol:sip:alice@aol.test'
  await user.publish(buildPidf('sip:alice@aol.test', 'open', 'reading mail'))
  const res = await app.inject({ method: 'POST', url: '/v1/contacts', payload: { address } })
  t.equal(res.statusCode, 201, 'watching', { body: res.json() })
  t.equal(res.json().address, address)
  const presenceOf = async (): Promise<Presence> => get(app, `/v1/presence/${address}`)
  const first = await waitFor('alice available', async () => {
    const p = await presenceOf()
    return p.availability === 'available' ? p : undefined
  })
  t.equal(first.status, 'reading mail')
  await user.publish(buildPidf('sip:alice@aol.test', 'closed', 'gone home'))
  await waitFor('alice offline', async () => (await presenceOf()).availability === 'offline')
})

/** Answers an INVITE with m=message (an IM session), as a provider's client does. */
function acceptImSessions(user: SipUser): void {
  user.handler = (rq) =>
    rq.method === 'INVITE'
      ? {
          status: 200,
          headers: { contact: `<${user.contact}>` },
          contentType: 'application/sdp',
          body: `v=0\r\no=- 0 0 IN IP4 ${user.address}\r\ns=-\r\nc=IN IP4 ${user.address}\r\nt=0 0\r\nm=message 5060 sip null\r\n`,
        }
      : undefined
}

const RUNNABLE: Record<Profile, Record<string, unknown>> = {
  aol: { allowRetired: true },
  yahoo: { allowRetired: true, licensed: ['bot'] },
  'windows-live': {},
}

for (const profile of ['aol', 'yahoo', 'windows-live'] as const) {
  for (const [tls, imMode] of [
    [false, 'session'],
    [true, 'pager'],
    [true, 'session'],
  ] as const) {
    t.test(
      `${profile}: IM both ways, ${imMode} mode, over ${tls ? 'mutual TLS' : 'TCP'}`,
      async (t) => {
        const { app, user } = await world(t, profile, {
          tls,
          options: { ...RUNNABLE[profile], imMode },
        })
        acceptImSessions(user)
        const domain = TEST_DOMAIN[profile]
        t.equal(await user.message(BOT, `hello ${imMode}`), 200)
        await received(user, `echo: hello ${imMode}`)
        const record = await post(app, {
          to: `${profile}:sip:alice@${domain}`,
          text: `out ${imMode}`,
        })
        t.equal(record.status, 'sent', record.error ?? '')
        const out = await received(user, `out ${imMode}`)
        const invites = user.received.filter((rq) => rq.method === 'INVITE')
        if (imMode === 'session')
          t.ok(
            invites.some((i) => i.callId === out.callId),
            'inside an INVITE session',
          )
        else t.equal(invites.length, 0, 'pager mode sends no INVITE')
      },
    )
  }
}
