import { connect } from 'node:net'
import t, { type Test } from 'tap'
import type { Presence } from '../../core/contract/index.js'
import { testApp, waitFor } from '../helpers/app.js'
import { seen } from '../helpers/bots/watcher/index.js'
import { freePort, type KamailioPeer, startKamailio } from '../peers/kamailio.js'
import { buildPidf, connectSipUser, type SipUser } from '../peers/sip-user.js'

/**
 * The SIP/SIMPLE edge end to end: Parley's `sip` plugin federates with a
 * real Kamailio playing the provider clouds (aol.test, yahoo.test,
 * live.test), whose users are SIP test clients.
 */
const PARLEY = '127.0.0.5'
const ALICE = '127.0.0.3'
const BOT = 'sip:bot@parley.test'
const BOT_ADDRESS = `sip:${BOT}`

type App = Awaited<ReturnType<typeof testApp>>

async function world(
  t: Test,
  bot: 'echo' | 'watcher' = 'echo',
  sipOptions: Record<string, unknown> | ((k: KamailioPeer) => Record<string, unknown>) = {},
  kamailioOptions: { parleyPresenceServer?: boolean } = {},
) {
  const parleyPort = await freePort(PARLEY)
  const kamailio = await startKamailio({
    parleyTarget: { address: PARLEY, port: parleyPort, transport: 'tcp' },
    ...kamailioOptions,
  })
  t.teardown(() => kamailio.stop())
  const app = await testApp(t, {
    plugins: [
      {
        name: 'sip',
        options: {
          domain: 'parley.test',
          identities: ['bot'],
          listen: { address: PARLEY, port: parleyPort, udp: false },
          peers: [
            {
              domains: kamailio.domains,
              host: kamailio.address,
              port: kamailio.tcpPort,
              transport: 'tcp',
            },
          ],
          requestTimeoutMs: 5000,
          ...(typeof sipOptions === 'function' ? sipOptions(kamailio) : sipOptions),
        },
      },
    ],
    bots: [
      bot === 'echo'
        ? { name: 'echo', identities: [BOT_ADDRESS] }
        : {
            name: 'watcher',
            module: './test/helpers/bots/watcher/index.ts',
            identities: [BOT_ADDRESS],
          },
    ],
    presence: { dbFlushMs: 50 },
  })
  const alice = await connectSipUser({
    kamailio,
    username: 'alice',
    domain: 'aol.test',
    address: ALICE,
    transport: 'tcp',
  })
  t.teardown(() => alice.stop())
  return { app, kamailio, alice, parleyPort }
}

async function presenceOf(app: App, address: string): Promise<Presence> {
  return (await app.inject({ method: 'GET', url: `/v1/presence/${address}` })).json()
}

const body = (alice: SipUser, text: string) =>
  alice.waitFor((rq) => rq.method === 'MESSAGE' && rq.body === text, 10_000)

t.test(
  'IM both ways: a provider user messages the bot and gets the echo; REST reaches them',
  async (t) => {
    const { app, alice } = await world(t)
    t.equal((await app.inject({ method: 'GET', url: '/v1/networks/sip' })).json().status, 'online')
    t.equal(await alice.message(BOT, 'hello from AOL, ünïcödé'), 200, 'accepted once queued')
    const echo = await body(alice, 'echo: hello from AOL, ünïcödé')
    t.match(echo.from, /sip:bot@parley\.test/)

    const res = await app.inject({
      method: 'POST',
      url: '/v1/messages',
      payload: { to: 'sip:sip:alice@aol.test', text: 'a note over SIP' },
    })
    t.equal(res.statusCode, 202)
    await body(alice, 'a note over SIP')
    const record = await waitFor('sent', async () => {
      const r = (await app.inject({ method: 'GET', url: `/v1/messages/${res.json().id}` })).json()
      return r.status === 'sent' ? r : undefined
    })
    t.ok(record.remoteId, 'the Call-ID is kept')

    // A user the provider does not know: the provider's 404 fails the message for good.
    const lost = await app.inject({
      method: 'POST',
      url: '/v1/messages',
      payload: { to: 'sip:sip:nobody@aol.test', text: 'into the void' },
    })
    const failed = await waitFor('failed', async () => {
      const r = (await app.inject({ method: 'GET', url: `/v1/messages/${lost.json().id}` })).json()
      return r.status === 'failed' ? r : undefined
    })
    t.match(failed.error, /404/)
  },
)

t.test(
  'presence: Parley watches a provider user (PUBLISH -> NOTIFY -> REST and the bot)',
  async (t) => {
    const { app, alice } = await world(t, 'watcher')
    await alice.publish(buildPidf('sip:alice@aol.test', 'open', 'reading mail'))
    const res = await app.inject({
      method: 'POST',
      url: '/v1/contacts',
      payload: { address: 'sip:sip:alice@aol.test' },
    })
    t.equal(res.statusCode, 201)
    const first = await waitFor('alice available', async () => {
      const p = await presenceOf(app, 'sip:sip:alice@aol.test')
      return p.availability === 'available' ? p : undefined
    })
    t.equal(first.status, 'reading mail')
    await alice.publish(buildPidf('sip:alice@aol.test', 'closed'))
    await waitFor(
      'alice offline',
      async () => (await presenceOf(app, 'sip:sip:alice@aol.test')).availability === 'offline',
    )
    t.ok(
      seen.some(
        (a) =>
          a.name === 'presence' &&
          a.from?.id === 'sip:sip:alice@aol.test' &&
          (a.value as Presence).availability === 'offline',
      ),
      'the bot got the presence event',
    )
  },
)

t.test(
  'presence: a provider user watches the bot; pending until approved, then NOTIFY with PIDF',
  async (t) => {
    const { app, alice } = await world(t)
    const subscription = await alice.subscribe(BOT, 300)
    t.ok(
      subscription.status >= 200 && subscription.status < 300,
      `SUBSCRIBE answered ${subscription.status}`,
    )
    await subscription.waitForNotify((n) => /pending/.test(n.subscriptionState ?? ''), 10_000)
    const contact = await waitFor('a pending-in contact', async () =>
      (await app.inject({ method: 'GET', url: '/v1/contacts' }))
        .json()
        .contacts.find((c: { subscription: string }) => c.subscription === 'pending-in'),
    )
    t.equal(contact.address, 'sip:sip:alice@aol.test')
    const approved = await app.inject({ method: 'POST', url: `/v1/contacts/${contact.id}/approve` })
    t.equal(approved.statusCode, 200)
    const notify = await subscription.waitForNotify(
      (n) => /active/.test(n.subscriptionState ?? ''),
      10_000,
    )
    t.match(notify.body, /<basic>open<\/basic>/)
    t.match(notify.contentType, /application\/pidf\+xml/)
  },
)

t.test(
  'audio/video INVITE is refused (no media); bad requests get SIP errors, host alive',
  async (t) => {
    const { app, alice, parleyPort } = await world(t)
    const sdp = [
      'v=0',
      'o=- 1 1 IN IP4 127.0.0.3',
      's=call',
      'c=IN IP4 127.0.0.3',
      't=0 0',
      'm=audio 4000 RTP/AVP 0',
      '',
    ].join('\r\n')
    const invite = await alice.request('INVITE', BOT, { body: sdp, contentType: 'application/sdp' })
    t.equal(invite.status, 488)
    const xmlMessage = await alice.message(BOT, '<x/>', { contentType: 'application/xml' })
    t.equal(xmlMessage, 415)
    const unknownUser = await alice.message('sip:nobody@parley.test', 'hello?')
    t.equal(unknownUser, 404)
    const info = await alice.request('INFO', BOT)
    t.equal(info.status, 405)

    // Garbage straight onto the edge's socket.
    for (const junk of [
      '\x00\x01\x02garbage\r\n\r\n',
      'MESSAGE sip:bot@parley.test SIP/2.0\r\nContent-Length: 99999999\r\n\r\n',
      'INVITE\r\n\r\n',
    ]) {
      await new Promise<void>((resolve) => {
        const socket = connect(parleyPort, PARLEY, () => socket.end(junk))
        socket.on('close', () => resolve())
        socket.on('error', () => resolve())
        setTimeout(() => socket.destroy(), 500)
      })
    }
    t.equal(await alice.message(BOT, 'still there?'), 200, 'the edge still answers')
    t.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200)
  },
)

t.test('session mode: messages go inside an INVITE session, one per recipient', async (t) => {
  const { app, alice } = await world(t, 'echo', { imMode: 'session' })
  alice.handler = (rq) =>
    rq.method === 'INVITE'
      ? {
          status: 200,
          headers: { contact: `<${alice.contact}>` },
          contentType: 'application/sdp',
          body: 'v=0\r\no=- 0 0 IN IP4 127.0.0.3\r\ns=-\r\nc=IN IP4 127.0.0.3\r\nt=0 0\r\nm=message 5060 sip null\r\n',
        }
      : undefined
  for (const text of ['first in the session', 'second in the session']) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/messages',
      payload: { to: 'sip:sip:alice@aol.test', text },
    })
    t.equal(res.statusCode, 202)
  }
  const first = await body(alice, 'first in the session')
  const second = await body(alice, 'second in the session')
  const invites = alice.received.filter((rq) => rq.method === 'INVITE')
  t.equal(invites.length, 1, 'one INVITE for both messages')
  t.equal(first.callId, invites[0]?.callId, 'the MESSAGE is inside the INVITE dialog')
  t.equal(second.callId, first.callId)
  t.ok(second.cseq > first.cseq, 'CSeq grows within the dialog')
  await alice.waitFor((rq) => rq.method === 'ACK' && rq.callId === first.callId, 5000)

  // Inbound: an IM session offer is accepted with an m=message answer.
  const offer = await alice.request('INVITE', BOT, {
    contentType: 'application/sdp',
    body: 'v=0\r\no=- 0 0 IN IP4 127.0.0.3\r\ns=-\r\nc=IN IP4 127.0.0.3\r\nt=0 0\r\nm=message 5060 sip null\r\n',
  })
  t.equal(offer.status, 200)
  t.match(offer.body, /m=message/)
})

t.test(
  'with callEvents (Windows Live), an A/V offer reaches the bot as call.offer, and is refused',
  async (t) => {
    const { alice } = await world(t, 'watcher', { callEvents: true })
    const sdp =
      'v=0\r\no=- 1 1 IN IP4 127.0.0.3\r\ns=call\r\nc=IN IP4 127.0.0.3\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 96\r\n'
    const invite = await alice.request('INVITE', BOT, { body: sdp, contentType: 'application/sdp' })
    t.equal(invite.status, 488, 'the signalling is answered: no media here')
    const offer = await waitFor('the call.offer event', () =>
      seen.find((a) => a.name === 'call.offer' && a.from?.id === 'sip:sip:alice@aol.test'),
    )
    t.same(offer.value, { media: ['audio', 'video'], answered: 488 })
    t.equal(offer.recipient?.id, BOT_ADDRESS)
  },
)

t.test(
  'Windows Live name decoration: user(domain)@live-domain on the wire, plain in Parley',
  async (t) => {
    const { app, kamailio } = await world(t, 'echo', {
      decoration: { domain: 'live.test', native: ['live.test'] },
    })
    const carol = await connectSipUser({
      kamailio,
      username: 'carol(contoso.example)',
      domain: 'live.test',
      address: '127.0.0.4',
      transport: 'tcp',
    })
    t.teardown(() => carol.stop())
    const res = await app.inject({
      method: 'POST',
      url: '/v1/messages',
      payload: { to: 'sip:sip:carol@contoso.example', text: 'decorated on the wire' },
    })
    t.equal(res.statusCode, 202)
    const got = await carol.waitFor(
      (rq) => rq.method === 'MESSAGE' && rq.body === 'decorated on the wire',
      10_000,
    )
    t.match(got.to, /carol\(contoso\.example\)@live\.test/, 'the To header is decorated')
    t.equal(await carol.message(BOT, 'hi from a custom domain'), 200)
    await carol.waitFor(
      (rq) => rq.method === 'MESSAGE' && rq.body === 'echo: hi from a custom domain',
      10_000,
    )
    const inbound = await waitFor('the inbound record', async () => {
      const list = (await app.inject({ method: 'GET', url: '/v1/messages?direction=in' })).json()
      return list.messages.find((m: { text: string }) => m.text === 'hi from a custom domain')
    })
    t.equal(inbound.from, 'sip:sip:carol@contoso.example', 'Parley sees the plain address')
  },
)

t.test(
  'with a presence server, the edge PUBLISHes its identities (and withdraws them at stop)',
  async (t) => {
    const { app, alice } = await world(
      t,
      'echo',
      (kamailio) => ({
        presenceServer: { host: kamailio.address, port: kamailio.tcpPort, transport: 'tcp' },
      }),
      { parleyPresenceServer: true },
    )
    // The watcher asks the presence server, not Parley, and gets what Parley published.
    const subscription = await alice.subscribe(BOT, 300)
    t.ok(
      subscription.status >= 200 && subscription.status < 300,
      `SUBSCRIBE ${subscription.status}`,
    )
    const open = await subscription.waitForNotify(
      (n) => /<basic>open<\/basic>/.test(n.body),
      10_000,
    )
    t.match(open.body, /entity="sip:bot@parley\.test"/)
    // Counted before closing: the withdrawal's NOTIFY may arrive while close() still runs.
    const after = subscription.notifies.length
    await app.close()
    const withdrawn = await subscription.waitForNotify(
      (n) => subscription.notifies.indexOf(n) >= after,
      10_000,
    )
    t.notMatch(withdrawn.body, /<basic>open<\/basic>/, 'the publication was withdrawn at stop')
  },
)

t.test('over UDP too: IM both ways between the provider and the edge', async (t) => {
  const parleyPort = await freePort(PARLEY)
  const kamailio = await startKamailio({
    address: '127.0.0.30',
    parleyTarget: { address: PARLEY, port: parleyPort, transport: 'udp' },
  })
  t.teardown(() => kamailio.stop())
  const app = await testApp(t, {
    plugins: [
      {
        name: 'sip',
        options: {
          domain: 'parley.test',
          identities: ['bot'],
          listen: { address: PARLEY, port: parleyPort, tcp: false, udp: true },
          peers: [
            {
              domains: kamailio.domains,
              host: kamailio.address,
              port: kamailio.udpPort,
              transport: 'udp',
            },
          ],
          requestTimeoutMs: 5000,
        },
      },
    ],
    bots: [{ name: 'echo', identities: [BOT_ADDRESS] }],
  })
  const alice = await connectSipUser({
    kamailio,
    username: 'alice',
    domain: 'aol.test',
    address: '127.0.0.31',
    transport: 'udp',
  })
  t.teardown(() => alice.stop())
  t.equal(await alice.message(BOT, 'hello over udp'), 200)
  await body(alice, 'echo: hello over udp')
  const res = await app.inject({
    method: 'POST',
    url: '/v1/messages',
    payload: { to: 'sip:sip:alice@aol.test', text: 'udp the other way' },
  })
  t.equal(res.statusCode, 202)
  await body(alice, 'udp the other way')
})
