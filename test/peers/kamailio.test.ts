/**
 * The Kamailio provider cloud (test/peers/kamailio.ts) and the SIP test user
 * (test/peers/sip-user.ts) work: registration, MESSAGE relay over TCP and
 * mutual TLS, presence (PUBLISH → SUBSCRIBE/NOTIFY), refusal of a TLS client
 * without a certificate, and federation of the Parley domain to a stand-in
 * for Parley's edge over TCP and TLS.
 */
import { connect as tlsConnect } from 'node:tls'
import t from 'tap'
import { freePort, type KamailioPeer, startKamailio } from './kamailio.js'
import {
  buildPidf,
  connectSipUser,
  createSipStack,
  type SipMessage,
  type SipStack,
  SipStatusError,
  type SipUser,
} from './sip-user.js'
import { createTestCa } from './tls-ca.js'

const KAMAILIO = '127.0.0.2'
const ALICE = '127.0.0.3'
const BOB = '127.0.0.4'
const PARLEY_TCP = '127.0.0.5'
const PARLEY_TLS = '127.0.0.6'
const CAROL = '127.0.0.7'
const DAVE = '127.0.0.8'
const NOCERT = '127.0.0.9'

interface ParleyStandIn {
  stack: SipStack
  received: SipMessage[]
  waitFor(predicate: (m: SipMessage) => boolean, timeoutMs?: number): Promise<SipMessage>
}

/** A tiny SIP listener standing in for Parley's edge: records requests, answers 200. */
async function standIn(
  address: string,
  transport: 'tcp' | 'tls',
  tls?: Record<string, unknown>,
): Promise<ParleyStandIn> {
  const received: SipMessage[] = []
  const waiters = new Set<() => void>()
  const stack = await createSipStack(
    { address, transport, tls, port: await freePort(address), name: `parley-${transport}` },
    (rq) => {
      received.push(rq)
      if (rq.method === 'SUBSCRIBE') {
        // A dialog: our tag, our Contact, the Record-Route copied back.
        const contact = `sip:someone@${address}:${stack.port};transport=${transport}`
        stack.respond(rq, 200, 'OK', {
          headers: {
            to: { ...rq.headers.to, params: { ...rq.headers.to.params, tag: 'edge' } },
            contact: [{ uri: contact, params: {} }],
            'record-route': rq.headers['record-route'],
            expires: '60',
          },
        })
      } else if (rq.method !== 'ACK') {
        stack.respond(rq, 200)
      }
      for (const wake of [...waiters]) wake()
    },
  )
  const waitFor = (predicate: (m: SipMessage) => boolean, timeoutMs = 5000) =>
    new Promise<SipMessage>((resolve, reject) => {
      const check = () => {
        const found = received.find(predicate)
        if (!found) return
        waiters.delete(check)
        clearTimeout(timer)
        resolve(found)
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`stand-in ${address}: nothing matching within ${timeoutMs} ms`))
      }, timeoutMs)
      waiters.add(check)
      check()
    })
  return { stack, received, waitFor }
}

const body = (m: SipMessage) => Buffer.from(m.content ?? '', 'binary').toString('utf8')

t.test('Kamailio provider cloud', async (t) => {
  const users: SipUser[] = []
  const standIns: ParleyStandIn[] = []
  let kamailio: KamailioPeer | undefined
  const ca = await createTestCa({ kamailioIps: [KAMAILIO], parleyIps: [PARLEY_TLS] })
  // Users first (they unregister), Kamailio last: no connection is cut under a live transaction.
  t.teardown(async () => {
    await Promise.all(users.map((u) => u.stop()))
    await Promise.all(standIns.map((s) => s.stack.close()))
    await kamailio?.stop()
    ca.remove()
  })
  const parleyTcp = await standIn(PARLEY_TCP, 'tcp')
  standIns.push(parleyTcp)
  kamailio = await startKamailio({
    address: KAMAILIO,
    ca,
    parleyTarget: { address: PARLEY_TCP, port: parleyTcp.stack.port, transport: 'tcp' },
  })
  const log = async () => ({ kamailioLog: await kamailio.logTail() })

  const alice = await connectSipUser({
    kamailio,
    username: 'alice',
    domain: 'aol.test',
    address: ALICE,
  })
  users.push(alice)
  const bob = await connectSipUser({
    kamailio,
    username: 'bob',
    domain: 'yahoo.test',
    address: BOB,
  })
  users.push(bob)

  await t.test('MESSAGE between registered users over TCP', async (t) => {
    const status = await alice.message(bob.aor, 'hello Bob — ünïcödé ✓')
    t.equal(status, 200, 'relayed and answered', await log())
    const got = await bob.waitFor((r) => r.method === 'MESSAGE')
    t.equal(got.body, 'hello Bob — ünïcödé ✓')
    t.equal(got.from, alice.aor)
    t.equal(got.to, bob.aor)
    t.match(got.contentType, /^text\/plain/)
    t.equal(await alice.message('sip:nobody@aol.test', 'anyone?'), 404, 'unknown user')
  })

  await t.test('PUBLISH, then SUBSCRIBE gets a NOTIFY with the PIDF', async (t) => {
    const etag = await bob.publish(buildPidf(bob.aor, 'open', 'Out to lunch'), 120)
    t.ok(etag, 'SIP-ETag returned')
    const sub = await alice.subscribe(bob.aor, 120)
    t.equal(sub.status, 200, 'subscription accepted', await log())
    const notify = await sub.waitForNotify((n) => n.body.includes('Out to lunch'))
    t.match(notify.body, /<basic>open<\/basic>/)
    t.match(notify.contentType, /application\/pidf\+xml/)
    t.equal(notify.event, 'presence')
    t.match(notify.subscriptionState, /^active/)
    t.equal(sub.state, 'active')

    // A change of presence is notified to the watcher.
    await bob.publish(buildPidf(bob.aor, 'closed', 'Gone home'), 120)
    const changed = await sub.waitForNotify((n) => n.body.includes('Gone home'))
    t.match(changed.body, /<basic>closed<\/basic>/)

    t.equal(await sub.refresh(120), 200, 'in-dialog refresh')
    t.equal(await sub.unsubscribe(), 200, 'unsubscribe')
    await sub.waitForNotify((n) => /^terminated/.test(n.subscriptionState ?? ''))
    t.equal(sub.state, 'terminated')
  })

  await t.test('MESSAGE over mutual TLS', async (t) => {
    const carol = await connectSipUser({
      kamailio,
      username: 'carol',
      domain: 'live.test',
      address: CAROL,
      transport: 'tls',
    })
    users.push(carol)
    const dave = await connectSipUser({
      kamailio,
      username: 'dave',
      domain: 'aol.test',
      address: DAVE,
      transport: 'tls',
    })
    users.push(dave)
    t.equal(await carol.message(dave.aor, 'over TLS'), 200, 'TLS to TLS', await log())
    t.equal((await dave.waitFor((r) => r.method === 'MESSAGE')).body, 'over TLS')
    // Across transports: TCP user to TLS user and back.
    t.equal(await alice.message(carol.aor, 'tcp to tls'), 200)
    t.equal((await carol.waitFor((r) => r.body === 'tcp to tls')).from, alice.aor)
    t.equal(await dave.message(bob.aor, 'tls to tcp'), 200)
    await bob.waitFor((r) => r.body === 'tls to tcp')
    await Promise.all([carol.stop(), dave.stop()])
  })

  await t.test('a TLS client without a certificate is refused', async (t) => {
    // Raw: the handshake fails or the connection is closed before any SIP.
    const outcome = await new Promise<string>((resolve) => {
      const socket = tlsConnect({ host: KAMAILIO, port: kamailio.tlsPort, ca: ca.ca })
      let answer = ''
      socket.on('secureConnect', () => {
        socket.write(
          `OPTIONS sip:${KAMAILIO} SIP/2.0\r\nVia: SIP/2.0/TLS ${NOCERT}:5061;branch=z9hG4bK1\r\nFrom: <sip:x@aol.test>;tag=1\r\nTo: <sip:${KAMAILIO}>\r\nCall-ID: nocert\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
        )
      })
      socket.on('data', (d) => {
        answer += d.toString()
      })
      socket.on('error', (err) => {
        socket.destroy()
        resolve(`error: ${(err as NodeJS.ErrnoException).code ?? err.message}`)
      })
      socket.on('close', () => resolve(answer ? `answered: ${answer}` : 'closed'))
      socket.setTimeout(3000, () => {
        socket.destroy()
        resolve('timeout')
      })
    })
    t.notMatch(outcome, /^answered|^timeout/, `refused (${outcome})`)

    // A SIP user without a certificate cannot register.
    const error = await connectSipUser({
      kamailio,
      username: 'eve',
      domain: 'aol.test',
      address: NOCERT,
      transport: 'tls',
      tls: { ca: ca.ca },
      requestTimeoutMs: 3000,
    }).catch((err: unknown) => err)
    t.type(error, SipStatusError)
    t.not((error as SipStatusError).status, 200)

    // A certificate from another CA is refused too.
    const rogue = await connectSipUser({
      kamailio,
      username: 'mallory',
      domain: 'aol.test',
      address: NOCERT,
      transport: 'tls',
      tls: { key: ca.rogue.key, cert: ca.rogue.cert, ca: ca.ca },
      requestTimeoutMs: 3000,
    }).catch((err: unknown) => err)
    t.type(rogue, SipStatusError)
  })

  await t.test('requests for the Parley domain go to the edge over TCP', async (t) => {
    t.equal(await alice.message('sip:someone@parley.test', 'to Parley'), 200, await log())
    const got = await parleyTcp.waitFor((m) => m.method === 'MESSAGE')
    t.equal(body(got), 'to Parley')
    t.equal(got.uri, 'sip:someone@parley.test')
    t.notOk(got.headers.route?.length, 'the pre-loaded Route was removed')

    const sub = await alice.subscribe('sip:someone@parley.test', 60)
    t.equal(sub.status, 200)
    const subscribe = await parleyTcp.waitFor((m) => m.method === 'SUBSCRIBE')
    t.ok(subscribe.headers['record-route']?.length, 'SUBSCRIBE is record-routed')

    // The edge notifies through the recorded route (loose routing in Kamailio).
    const notify: SipMessage = {
      method: 'NOTIFY',
      uri: subscribe.headers.contact === '*' ? '' : (subscribe.headers.contact?.[0]?.uri ?? ''),
      headers: {
        to: subscribe.headers.from,
        from: { ...subscribe.headers.to, params: { tag: 'edge' } },
        'call-id': subscribe.headers['call-id'],
        cseq: { method: 'NOTIFY', seq: 1 },
        route: subscribe.headers['record-route'],
        contact: [
          { uri: `sip:someone@${PARLEY_TCP}:${parleyTcp.stack.port};transport=tcp`, params: {} },
        ],
        'max-forwards': 70,
        event: 'presence',
        'subscription-state': 'active;expires=60',
        'content-type': 'application/pidf+xml',
      },
      content: buildPidf('sip:someone@parley.test', 'open', 'Parley user online'),
    }
    t.equal((await parleyTcp.stack.request(notify)).status, 200, 'NOTIFY answered', await log())
    const got2 = await sub.waitForNotify((n) => n.body.includes('Parley user online'))
    t.equal(got2.from, 'sip:someone@parley.test')
    t.equal(sub.state, 'active')
    t.equal(await sub.unsubscribe(), 200, 'in-dialog SUBSCRIBE back through Kamailio')
    const unsubscribes = parleyTcp.received.filter(
      (m) => m.method === 'SUBSCRIBE' && m.headers['call-id'] === sub.callId,
    )
    t.equal(unsubscribes.length, 2)
    t.equal(unsubscribes[1]?.headers.expires, '0')
  })

  await t.test('and over TLS to an edge presenting the Parley certificate', async (t) => {
    const parleyTls = await standIn(PARLEY_TLS, 'tls', {
      key: ca.parley.key,
      cert: ca.parley.cert,
      ca: ca.ca,
      // Kamailio must present its client certificate.
      requestCert: true,
      rejectUnauthorized: true,
    })
    standIns.push(parleyTls)
    // Closing our side first keeps the sip package quiet about the restart.
    for (const u of users) u.dropConnections()
    parleyTcp.stack.dropConnections()
    await kamailio.restart({
      parleyTarget: { address: PARLEY_TLS, port: parleyTls.stack.port, transport: 'tls' },
    })
    // A restart forgets registrations.
    t.equal(await alice.register(), 200)
    t.equal(await bob.register(), 200)
    t.equal(await alice.message('sip:someone@parley.test', 'to Parley over TLS'), 200, await log())
    const got = await parleyTls.waitFor((m) => m.method === 'MESSAGE')
    t.equal(body(got), 'to Parley over TLS')
    t.match(got.headers.via?.[0], { protocol: 'TLS', host: KAMAILIO }, 'from the provider address')

    // The other direction: the edge sends to a provider user over mutual TLS.
    const edge = parleyTls.stack
    const edgeContact = `sip:someone@${PARLEY_TLS}:${edge.port};transport=tls`
    const fromParley = (method: string, uri: string, headers: Record<string, unknown>) => ({
      method,
      uri,
      headers: {
        to: { uri, params: {} },
        from: { uri: 'sip:someone@parley.test', params: { tag: `p${Date.now()}` } },
        'call-id': `${method.toLowerCase()}-${Date.now()}@parley.test`,
        cseq: { method, seq: 1 },
        contact: [{ uri: edgeContact, params: {} }],
        'max-forwards': 70,
        route: [{ uri: kamailio.route('tls'), params: {} }],
        ...headers,
      },
    })
    const message = fromParley('MESSAGE', bob.aor, { 'content-type': 'text/plain' })
    const rs = await edge.request({ ...message, content: 'from Parley' })
    t.equal(rs.status, 200, 'MESSAGE from the edge delivered', await log())
    t.equal((await bob.waitFor((r) => r.body === 'from Parley')).from, 'sip:someone@parley.test')

    // The edge subscribes to a provider user's presence: the presence server answers.
    await bob.publish(buildPidf(bob.aor, 'open', 'Available for Parley'), 120)
    const subscribe = fromParley('SUBSCRIBE', bob.aor, {
      event: 'presence',
      accept: 'application/pidf+xml',
      expires: '60',
    })
    const subRs = await edge.request(subscribe)
    t.equal(subRs.status, 200, 'SUBSCRIBE from the edge accepted', await log())
    const notify = await parleyTls.waitFor(
      (m) => m.method === 'NOTIFY' && body(m).includes('Available for Parley'),
    )
    t.equal(notify.headers['call-id'], subscribe.headers['call-id'], 'NOTIFY in that dialog')
  })

  await t.test('stopping users and stand-ins leaves no socket open', async (t) => {
    await Promise.all(users.map((u) => u.stop()))
    await Promise.all(standIns.map((s) => s.stack.close()))
    t.equal(parleyTcp.stack.socketCount, 0)
    // Servers and UDP sockets close on the next turns of the loop.
    await new Promise((resolve) => setTimeout(resolve, 50))
    const sockets = process
      .getActiveResourcesInfo()
      .filter((r) => /TCPSocketWrap|TLSWrap|TCPServerWrap|UDPWrap/.test(r))
    t.same(sockets, [], 'Kamailio still runs, our side is closed')
  })
})
