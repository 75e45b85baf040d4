/**
 * The wire corpus (test/corpus/): malformed stanzas and SIP messages from
 * the peer side, replayed against one live Parley host that runs the xmpp
 * plugin on a real Prosody and the sip edge behind a real Kamailio, with the
 * watcher bot answering both identities.
 *
 * - XMPP: `mallory`, a Prosody account, writes each case's bytes on a bare
 *   socket session (test/peers/xmpp-socket.ts) to Parley's account; cases
 *   Prosody must refuse get a session of their own. A ping from mallory to
 *   Parley's session after each case is the barrier: Prosody keeps order, so
 *   once it is answered the plugin has read the case.
 * - SIP: each case's bytes on a new TCP connection to the edge, UDP
 *   datagrams to it, a TCP connection to Kamailio (which routes parley.test
 *   to the edge), or NOTIFYs in the subscription Parley holds with
 *   rogue.test (opened by asking the bot to watch mallory@rogue.test).
 *
 * Per case: what the peer got back (SIP: the final status; XMPP: an error,
 * a result, a stream error), what reached the bot, and the log line the
 * plugin or host must write. After the whole corpus: both networks online,
 * a well-behaved user on each network still reaches the bot and gets its
 * reply, the dialog still carries presence, nothing of /etc/passwd appears
 * anywhere, and no uncaught exception or unhandled rejection happened.
 *
 * The host runs in this process, with its log captured (buildApp's `logger`
 * option; testApp does not take one). It is never asked over REST but for
 * /health at the end.
 *
 * Addresses (SIP endpoints each need their own, see test/peers/sip-user.ts):
 * the edge 127.0.0.7, Kamailio 127.0.0.8, raw clients 127.0.0.77, alice's
 * SIP user agent 127.0.0.78, the rogue federation peer 127.0.0.79.
 */
import { createSocket } from 'node:dgram'
import { readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import type { Activity } from 'botbuilder'
import t, { type Test } from 'tap'
import { buildApp } from '../../core/app.js'
import { FINAL_NOTE, type SipCase, type SipCaseContext, sipCorpus } from '../corpus/sip/index.js'
import { type XmppCase, type XmppCaseContext, xmppCorpus } from '../corpus/xmpp/index.js'
import { ROOT, testConfig, waitFor } from '../helpers/app.js'
import { seen } from '../helpers/bots/watcher/index.js'
import { freePort, startKamailio } from '../peers/kamailio.js'
import { startProsody } from '../peers/prosody.js'
import { connectRawUser } from '../peers/raw-xmpp.js'
import { connectSipUser, createSipStack, type SipMessage, stringifyUri } from '../peers/sip-user.js'
import { openXmppSocket, type XmppSocket } from '../peers/xmpp-socket.js'

const EDGE = '127.0.0.7'
const KAMAILIO = '127.0.0.8'
const RAW = '127.0.0.77'
const ALICE = '127.0.0.78'
const ROGUE = '127.0.0.79'
const DOMAIN = 'parley.test'
const BOT_SIP = `sip:bot@${DOMAIN}`
const WATCHED = 'sip:mallory@rogue.test'
/** How long to listen for an answer that must not come (or may not). */
const QUIET_MS = 600
/** How long an expected SIP answer may take. */
const ANSWER_MS = 5000

// ------------------------------------------------------------ crash watch

/** Uncaught exceptions and unhandled rejections, with the cases in flight when they happened. */
const crashes: Array<{ kind: string; error: string; during: string[] }> = []
const inFlight = new Set<string>()
const onCrash = (kind: string) => (err: unknown) => {
  crashes.push({
    kind,
    error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    during: [...inFlight],
  })
}
const onUncaught = onCrash('uncaughtException')
const onUnhandled = onCrash('unhandledRejection')
process.on('uncaughtException', onUncaught)
process.on('unhandledRejection', onUnhandled)
t.teardown(() => {
  process.off('uncaughtException', onUncaught)
  process.off('unhandledRejection', onUnhandled)
})
const crashesDuring = (name: string) => crashes.filter((c) => c.during.includes(name))

// ------------------------------------------------------------ peers

const prosody = await startProsody({
  users: [
    { username: 'bot', password: 'bot-pw' },
    { username: 'mallory', password: 'mallory-pw' },
    { username: 'alice', password: 'alice-pw' },
  ],
})
t.teardown(() => prosody.stop())

const edgePort = await freeTcpAndUdpPort(EDGE)
const kamailio = await startKamailio({
  address: KAMAILIO,
  parleyTarget: { address: EDGE, port: edgePort, transport: 'tcp' },
})
t.teardown(() => kamailio.stop())

/** rogue.test: a federation peer the edge reaches directly; it accepts Parley's SUBSCRIBE. */
const rogueTag = 'rogue-corpus'
let rogueSubscribe: SipMessage | undefined
const rogue = await createSipStack({ address: ROGUE, transport: 'tcp', name: 'rogue' }, (rq) => {
  if (rq.method === 'ACK') return
  if (rq.method === 'SUBSCRIBE' && !rogueSubscribe) {
    rogueSubscribe = rq
    rogue.respond(rq, 200, 'OK', {
      headers: {
        to: { ...rq.headers.to, params: { ...rq.headers.to.params, tag: rogueTag } },
        contact: [{ uri: `sip:mallory@${ROGUE}:${rogue.port};transport=tcp`, params: {} }],
        expires: '600',
      },
    })
    return
  }
  rogue.respond(rq, 200, 'OK')
})
t.teardown(() => rogue.close())

// ------------------------------------------------------------ the host

interface LogLine {
  level: number
  msg?: string
  code?: string
  id?: string
  callId?: string
  [key: string]: unknown
}
const logs: LogLine[] = []
const WARN = 40

// The federation policy is testConfig's openPolicy() (test/helpers/policy.ts): whatever
// the inbound path enforces, the corpus reaches the plugins' own handling.
const config = testConfig(t, {
  plugins: [
    {
      name: 'xmpp',
      options: {
        service: prosody.service,
        domain: prosody.domain,
        username: 'bot',
        password: 'bot-pw',
        resource: 'corpus-host',
        reconnectMinMs: 100,
        reconnectMaxMs: 1000,
      },
    },
    {
      name: 'sip',
      options: {
        domain: DOMAIN,
        identities: ['bot'],
        listen: { address: EDGE, port: edgePort, udp: true, tcp: true },
        peers: [
          {
            domains: [...kamailio.domains],
            host: kamailio.address,
            port: kamailio.tcpPort,
            transport: 'tcp',
          },
          { domains: ['rogue.test'], host: ROGUE, port: rogue.port, transport: 'tcp' },
        ],
        requestTimeoutMs: 2000,
        // Kamailio relays at most 16 kB per TCP message: keep the edge's limit below it.
        maxBodyBytes: 4096,
      },
    },
  ],
  bots: [
    {
      name: 'watcher',
      module: './test/helpers/bots/watcher/index.ts',
      identities: [`xmpp:bot@${DOMAIN}`, `sip:${BOT_SIP}`],
    },
  ],
  presence: { dbFlushMs: 50 },
})
const app = await buildApp(config, {
  rootDir: ROOT,
  logger: {
    level: 'debug',
    stream: {
      write(line: string) {
        try {
          logs.push(JSON.parse(line) as LogLine)
        } catch {
          logs.push({ level: 50, msg: `unparsable log line: ${line.slice(0, 200)}` })
        }
      },
    },
  },
})
t.teardown(() => app.close())
// PARLEY_CORPUS_LOG=<file>: the host's log, one JSON line each, for reading after a run.
if (process.env.PARLEY_CORPUS_LOG) {
  const file = process.env.PARLEY_CORPUS_LOG
  t.teardown(() => {
    writeFileSync(file, `${logs.map((l) => JSON.stringify(l)).join('\n')}\n`)
    const answers = [...outcomes].map(([name, { outcome }]) => ({ name, ...outcome }))
    writeFileSync(`${file}.answers.json`, JSON.stringify(answers, null, 1))
  })
}

const stateOf = (network: string) => app.networks.get(network)?.status.state
await waitFor(
  'both networks online',
  () => stateOf('xmpp') === 'online' && stateOf('sip') === 'online',
  15_000,
)

// SIP users stop before Kamailio (teardowns run last-in first-out).
const sipAlice = await connectSipUser({
  kamailio,
  username: 'alice',
  domain: 'aol.test',
  address: ALICE,
  transport: 'tcp',
})
t.teardown(() => sipAlice.stop())

const messagesTo = (network: string) =>
  seen.filter((a) => a.type === 'message' && a.channelId === network) as Partial<Activity>[]

const remoteIdOf = (a: Partial<Activity>) =>
  (a.channelData as { remoteId?: string } | undefined)?.remoteId

// ------------------------------------------------------------ XMPP replay

const botJid = `bot@${DOMAIN}`
const botFull = `${botJid}/corpus-host`
const mallory = await openXmppSocket({
  service: prosody.service,
  domain: prosody.domain,
  username: 'mallory',
  password: 'mallory-pw',
  resource: 'corpus',
})
t.teardown(() => mallory.close())

const xmppContext = (c: XmppCase, sender: string): XmppCaseContext => ({
  bot: botJid,
  botFull,
  sender,
  id: `corpus-${c.name}`,
  marker: `[corpus:${c.name}]`,
})

/** Bot checks that can only be made once everything was replayed ('nothing' reached it). */
const xmppDeferred: Array<(t: Test) => void> = []
let freshCount = 0

await t.test('corpus case names are unique', async (t) => {
  const names = [...xmppCorpus, ...sipCorpus].map((c) => c.name)
  t.same(
    names.filter((name, i) => names.indexOf(name) !== i),
    [],
    'no name twice',
  )
})

await t.test(`xmpp corpus (${xmppCorpus.length} cases)`, async (t) => {
  for (const c of xmppCorpus) {
    await t.test(`${c.name}: ${c.attacks}`, async (t) => {
      inFlight.add(c.name)
      t.teardown(() => inFlight.delete(c.name))
      let session: XmppSocket = mallory
      if (c.via === 'fresh') {
        session = await openXmppSocket({
          service: prosody.service,
          domain: prosody.domain,
          username: 'mallory',
          password: 'mallory-pw',
          resource: c.resource ?? `corpus-fresh-${++freshCount}`,
          ...(c.lang && { lang: c.lang }),
        })
      }
      const ctx = xmppContext(c, session.jid)
      const logMark = logs.length
      const received = session.received.length
      await session.write(c.build(ctx)).catch(() => {})
      const { reply } = c.expect
      if (typeof reply === 'object') {
        await session
          .until(`stream error ${reply.streamError}`, () => session.closed, 5000)
          .catch(() => {})
        t.equal(
          session.streamError(),
          reply.streamError,
          `Prosody ended the sender's stream: ${reply.streamError}`,
        )
      } else if (reply) {
        // By prefix: a case may lengthen its id (message-id-4000-characters).
        const answered = () =>
          session.replies(ctx.id, { since: received, prefix: true }).some((s) => s.type === reply)
        await session.until(`an ${reply} for ${ctx.id}`, answered, 5000).catch(() => {})
        t.ok(answered(), `the sender got an ${reply} back`)
      }
      // Barrier: once Parley's session answers mallory's ping, the plugin read the case.
      await mallory.ping(botFull, 10_000)
      if (session !== mallory) await session.close()
      t.same(crashesDuring(c.name), [], 'no uncaught exception or unhandled rejection')
      if (c.expect.log) {
        const { code, withId } = c.expect.log
        const found = logs
          .slice(logMark)
          .find((l) => l.level >= WARN && l.code === code && (!withId || l.id === ctx.id))
        t.ok(found, `logged with ${code}${withId ? ` naming ${ctx.id}` : ''}`)
      }
      const matches = (a: Partial<Activity>) =>
        (a.text ?? '').includes(ctx.marker) || remoteIdOf(a) === ctx.id
      if (c.expect.bot === 'message') {
        const activity = await waitFor(
          `${c.name} at the bot`,
          () => messagesTo('xmpp').find(matches),
          5000,
        ).catch(() => undefined)
        t.ok(activity, 'the bot got it as a message')
        if (activity && c.expect.text !== undefined)
          t.equal(activity.text, c.expect.text, 'with exactly the text sent')
        if (activity)
          t.equal(
            activity.from?.id,
            `xmpp:mallory@${DOMAIN}`,
            'from the real sender (Prosody stamps from)',
          )
      } else if (c.expect.bot === 'nothing') {
        xmppDeferred.push((t) =>
          t.notOk(messagesTo('xmpp').some(matches), `${c.name}: nothing reached the bot`),
        )
      }
    })
  }
})

// ------------------------------------------------------------ SIP replay

interface SipOutcome {
  statuses: number[]
  /** ms from the first byte written to the first final response (or the end of listening). */
  ms: number
  /** Cases replayed alone: the longest the event loop was blocked meanwhile (ms). */
  blockedMs?: number
}

let sipSeq = 0
const sipContext = (c: SipCase, extra: Partial<SipCaseContext> = {}): SipCaseContext => {
  const n = ++sipSeq
  return {
    domain: DOMAIN,
    bot: BOT_SIP,
    local: RAW,
    callId: `corpus-${c.name}-${process.pid}@corpus.test`,
    branch: `z9hG4bKcorpus${process.pid}x${n}`,
    tag: `corpus${n}`,
    marker: `[corpus:${c.name}]`,
    deadContact: `sip:mallory@${RAW}:9;transport=tcp`,
    ...extra,
  }
}

/** Final statuses in `text` (responses only: 1xx skipped). */
const finals = (text: string) =>
  [...text.matchAll(/^SIP\/\d+\.\d+ (\d{3})/gm)].map((m) => Number(m[1])).filter((s) => s >= 200)

/** How many final answers a case waits for, and how long at most. */
function waitPlan(c: SipCase): { count: number; ms: number } {
  const count = c.expect.answers ?? (typeof c.expect.answer === 'number' ? 1 : 0)
  if (count > 0) return { count, ms: ANSWER_MS }
  return { count: 1, ms: c.expect.answer === 'any' ? 2000 : QUIET_MS }
}

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Writes a case's bytes on a new TCP connection and collects the final answers. */
function overTcp(host: string, port: number, c: SipCase, ctx: SipCaseContext): Promise<SipOutcome> {
  const pieces = [c.build(ctx)].flat()
  const plan = waitPlan(c)
  return new Promise((resolve) => {
    const started = Date.now()
    let text = ''
    let settled = false
    const socket = connect({ host, port, localAddress: RAW })
    const finish = () => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ statuses: finals(text), ms: Date.now() - started })
    }
    const timer = setTimeout(finish, plan.ms + pieces.length * (c.pauseMs ?? 0))
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      text += chunk
      if (finals(text).length >= plan.count && typeof c.expect.answer === 'number') finish()
    })
    socket.on('error', finish)
    socket.on('close', finish)
    socket.on('connect', async () => {
      for (const piece of pieces) {
        if (settled) return
        socket.write(piece)
        if (c.pauseMs) await sleep(c.pauseMs)
      }
    })
  })
}

/** Sends a case's datagrams to the edge's UDP port and collects the final answers. */
function overUdp(c: SipCase, ctx: SipCaseContext): Promise<SipOutcome> {
  const pieces = [c.build(ctx)].flat()
  const plan = waitPlan(c)
  return new Promise((resolve) => {
    const started = Date.now()
    let text = ''
    const socket = createSocket('udp4')
    const finish = () => {
      clearTimeout(timer)
      try {
        socket.close()
      } catch {}
      resolve({ statuses: finals(text), ms: Date.now() - started })
    }
    const timer = setTimeout(finish, plan.ms)
    socket.on('message', (data) => {
      text += data.toString('latin1')
      if (finals(text).length >= plan.count && typeof c.expect.answer === 'number') finish()
    })
    socket.on('error', () => {})
    socket.bind(0, RAW, async () => {
      for (const piece of pieces) {
        const data = typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece
        socket.send(data, edgePort, EDGE)
        if (c.pauseMs) await sleep(c.pauseMs)
      }
    })
  })
}

/** The longest gap between 5 ms ticks (ms): how long the event loop was blocked at worst. */
function lagMonitor() {
  let last = performance.now()
  let worst = 0
  const timer = setInterval(() => {
    const now = performance.now()
    worst = Math.max(worst, now - last - 5)
    last = now
  }, 5)
  return {
    max: () => Math.round(Math.max(worst, performance.now() - last - 5)),
    stop: () => clearInterval(timer),
  }
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  const queue = [...items]
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let item = queue.shift(); item; item = queue.shift()) await work(item)
    }),
  )
}

const outcomes = new Map<string, { outcome: SipOutcome; ctx: SipCaseContext; logMark: number }>()

async function replaySip(c: SipCase, extra: Partial<SipCaseContext> = {}) {
  const ctx = sipContext(c, {
    ...(c.via === 'kamailio' && { route: kamailio.route('tcp') }),
    ...extra,
  })
  const logMark = logs.length
  inFlight.add(c.name)
  const lag = c.alone ? lagMonitor() : undefined
  try {
    const outcome =
      c.via === 'udp'
        ? await overUdp(c, ctx)
        : c.via === 'kamailio'
          ? await overTcp(kamailio.address, kamailio.tcpPort, c, ctx)
          : await overTcp(EDGE, edgePort, c, ctx)
    if (lag) outcome.blockedMs = lag.max()
    outcomes.set(c.name, { outcome, ctx, logMark })
  } finally {
    lag?.stop()
    inFlight.delete(c.name)
  }
}

/** The subscription dialog with rogue.test, opened through the bot. */
async function openDialog(): Promise<NonNullable<SipCaseContext['dialog']>> {
  const status = await sipAlice.message(BOT_SIP, `watch sip:${WATCHED}`)
  if (status !== 200) throw new Error(`alice's 'watch' MESSAGE: ${status}`)
  const subscribe = await waitFor(
    'the edge to SUBSCRIBE to rogue.test',
    () => rogueSubscribe,
    10_000,
  )
  const contact = Array.isArray(subscribe.headers.contact)
    ? subscribe.headers.contact[0]
    : undefined
  if (!contact) throw new Error('the edge sent a SUBSCRIBE without Contact')
  let seq = 100
  const dialog = {
    callId: String(subscribe.headers['call-id']),
    parleyTag: String(subscribe.headers.from.params?.tag),
    peerTag: rogueTag,
    parleyUri:
      typeof subscribe.headers.from.uri === 'string'
        ? subscribe.headers.from.uri
        : stringifyUri(subscribe.headers.from.uri),
    peerUri: WATCHED,
    target: typeof contact.uri === 'string' ? contact.uri : stringifyUri(contact.uri),
    cseq: () => seq++,
  }
  return dialog
}

/** Not a corpus case: the first, valid NOTIFY that makes the subscription active. */
const openingNotify: SipCase = {
  name: 'opening-notify',
  attacks: 'none: the dialog is opened normally',
  via: 'dialog',
  build: (c) => {
    const d = c.dialog
    if (!d) throw new Error('no dialog')
    const body = `<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${WATCHED}"><tuple id="t"><status><basic>open</basic></status></tuple><note>opening</note></presence>`
    return [
      `NOTIFY ${d.target} SIP/2.0`,
      `Via: SIP/2.0/TCP ${RAW}:5060;branch=z9hG4bKopening${process.pid}`,
      'Max-Forwards: 70',
      `From: <${d.peerUri}>;tag=${d.peerTag}`,
      `To: <${d.parleyUri}>;tag=${d.parleyTag}`,
      `Call-ID: ${d.callId}`,
      `CSeq: ${d.cseq()} NOTIFY`,
      'Event: presence',
      'Subscription-State: active;expires=600',
      'Content-Type: application/pidf+xml',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n')
  },
  expect: { answer: 200 },
}

const sipByVia = (via: SipCase['via']) => sipCorpus.filter((c) => c.via === via)

await t.test(`sip corpus (${sipCorpus.length} cases)`, async (t) => {
  // Straight onto the edge (TCP and UDP) and through Kamailio, a few at a time;
  // the cases marked `alone` by themselves, so a crash names its case.
  const direct = sipCorpus.filter((c) => c.via === 'tcp' || c.via === 'udp' || c.via === 'kamailio')
  await pool(
    direct.filter((c) => !c.alone),
    8,
    (c) => replaySip(c),
  )
  for (const c of direct.filter((c) => c.alone)) await replaySip(c)
  // In the dialog, in order.
  const dialog = await openDialog()
  const opening = await overTcp(
    EDGE,
    edgePort,
    openingNotify,
    sipContext(openingNotify, { dialog }),
  )
  t.same(opening.statuses, [200], 'the dialog opens with a valid NOTIFY')
  for (const c of sipByVia('dialog')) await replaySip(c, { dialog })

  for (const c of sipCorpus) {
    await t.test(`${c.name}: ${c.attacks}`, async (t) => {
      const result = outcomes.get(c.name)
      if (!result) {
        t.fail('not replayed')
        return
      }
      const { outcome, ctx, logMark } = result
      const first = outcome.statuses[0] ?? 'none'
      const { answer } = c.expect
      // A case that hits a known bug says so in every assertion it fails.
      const label = (text: string) => (c.fixed ? `${text} (regression of: ${c.fixed})` : text)
      if (outcome.blockedMs !== undefined)
        t.comment(`the event loop was blocked for up to ${outcome.blockedMs} ms meanwhile`)
      t.same(crashesDuring(c.name), [], label('no uncaught exception or unhandled rejection'))
      if (answer === 'none') t.equal(first, 'none', label(`no answer (${c.expect.why})`))
      else if (answer !== 'any') t.equal(first, answer, label(`answered ${answer}`))
      if (typeof first === 'number' && first >= 500)
        t.ok(c.expect.why, `a ${first} is documented (${c.expect.why ?? 'not documented'})`)
      if (c.expect.answers !== undefined)
        t.equal(outcome.statuses.length, c.expect.answers, label(`${c.expect.answers} answers`))
      if (c.expect.log) {
        const { code, callId, msg } = c.expect.log
        const found = await waitFor(
          `${code} for ${c.name}`,
          () =>
            logs
              .slice(logMark)
              .find(
                (l) =>
                  l.level >= WARN &&
                  l.code === code &&
                  (!callId || l.callId === ctx.callId) &&
                  (!msg || l.msg === msg),
              ),
          2000,
        ).catch(() => undefined)
        t.ok(
          found,
          `logged with ${code}${callId ? ' naming its Call-ID' : ''}${msg ? `: ${msg}` : ''}`,
        )
      }
      const matches = (a: Partial<Activity>) => (a.text ?? '').includes(ctx.marker)
      if (c.expect.bot === 'message') {
        const wanted = (a: Partial<Activity>) =>
          matches(a) && (c.expect.text === undefined || a.text === c.expect.text)
        const activity = await waitFor(
          `${c.name} at the bot`,
          () => messagesTo('sip').find(wanted),
          5000,
        ).catch(() => undefined)
        t.ok(
          activity,
          label(
            `the bot got it as a message${c.expect.text === undefined ? '' : ' with exactly the text sent'}`,
          ),
        )
      } else if (c.expect.bot === 'nothing') {
        t.notOk(messagesTo('sip').some(matches), 'nothing reached the bot')
      }
    })
  }
})

// ------------------------------------------------------------ after the corpus

await t.test('after the corpus: the host and both connections are fine', async (t) => {
  const xmppAlice = await connectRawUser(prosody, 'alice', 'alice-pw')
  t.teardown(() => xmppAlice.stop())

  await t.test('both networks are online (or back within 10 s)', async (t) => {
    for (const network of ['xmpp', 'sip']) {
      const online = await waitFor(`${network} online`, () => stateOf(network) === 'online', 10_000)
        .then(() => true)
        .catch(() => false)
      t.ok(online, `${network}: ${stateOf(network)}`)
    }
  })

  await t.test('a well-behaved XMPP user reaches the bot and gets its reply', async (t) => {
    const text = `watch xmpp:carol@${DOMAIN}`
    await xmppAlice.message(botJid, text)
    const reply = await xmppAlice
      .waitFor(
        (s) => s.name === 'message' && s.getChildText('body') === `watching xmpp:carol@${DOMAIN}`,
        {
          timeoutMs: 10_000,
        },
      )
      .catch(() => undefined)
    t.ok(
      messagesTo('xmpp').some((a) => a.text === text),
      'the bot got the message',
    )
    t.ok(reply, "alice got the bot's reply")
  })

  await t.test('a well-behaved SIP user reaches the bot and gets its reply', async (t) => {
    const text = 'watch sip:sip:carol@aol.test'
    t.equal(await sipAlice.message(BOT_SIP, text), 200, 'MESSAGE accepted')
    const reply = await sipAlice
      .waitFor(
        (rq) => rq.method === 'MESSAGE' && rq.body === 'watching sip:sip:carol@aol.test',
        10_000,
      )
      .catch(() => undefined)
    t.ok(
      messagesTo('sip').some((a) => a.text === text),
      'the bot got the message',
    )
    t.ok(reply, "alice got the bot's reply")
  })

  await t.test('the subscription dialog still carries presence', async (t) => {
    const presence = await waitFor(
      'presence from rogue.test at the bot',
      () =>
        seen.find(
          (a) =>
            a.name === 'presence' &&
            a.from?.id === `sip:${WATCHED}` &&
            (a.value as { status?: string } | undefined)?.status === FINAL_NOTE,
        ),
      10_000,
    ).catch(() => undefined)
    t.ok(presence, `the bot got the last valid document ('${FINAL_NOTE}')`)
  })

  await t.test('nothing else reached the bot', async (t) => {
    // Everything mallory sent before alice's message was read before it.
    for (const check of xmppDeferred) check(t)
  })

  await t.test('no external entity was resolved anywhere', async (t) => {
    const needle = passwdNeedle()
    if (!needle) {
      t.pass('no /etc/passwd here to leak')
      return
    }
    t.notOk(JSON.stringify(seen).includes(needle), 'not in anything the bot got')
    t.notOk(JSON.stringify(logs).includes(needle), 'not in any log line')
  })

  await t.test('the host answers and nothing crashed', async (t) => {
    const health = await app.inject({ method: 'GET', url: '/health' })
    t.ok(health.statusCode < 500, `/health answers (${health.statusCode})`)
    t.same(crashes, [], 'no uncaught exception or unhandled rejection during the whole corpus')
  })

  const sipDirect = sipCorpus.filter((c) => c.via !== 'dialog').length
  t.comment(
    `corpus: xmpp ${xmppCorpus.length} cases, sip ${sipCorpus.length} cases (${sipDirect} requests and datagrams, ${sipCorpus.length - sipDirect} in-dialog NOTIFYs), crashes ${crashes.length}`,
  )
})

/** The first line of /etc/passwd up to its second field (e.g. `root:x:0:0:`), if there is one. */
function passwdNeedle(): string | undefined {
  try {
    const first = readFileSync('/etc/passwd', 'utf8').split('\n')[0] ?? ''
    const parts = first.split(':')
    return parts.length >= 4 ? `${parts.slice(0, 4).join(':')}:` : undefined
  } catch {
    return undefined
  }
}

/** A port free on `host` for both TCP and UDP (the edge listens on both). */
async function freeTcpAndUdpPort(host: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort(host)
    const free = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4')
      socket.once('error', () => resolve(false))
      socket.bind(port, host, () => socket.close(() => resolve(true)))
    })
    if (free || attempt >= 10) return port
  }
}
