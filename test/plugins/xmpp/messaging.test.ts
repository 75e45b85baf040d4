/**
 * Messages both ways through a real Prosody: the plugin's account `bot`
 * talks to `alice`, a plain @xmpp/client user.
 */
import { xml } from '@xmpp/client'
import t, { type Test } from 'tap'
import type { InboundMessage, InboundReceipt, InboundTyping } from '../../../core/contract/index.js'
import { PluginError } from '../../../core/contract/index.js'
import type { XmppConfig } from '../../../plugins/xmpp/config.js'
import type { XmppConnection } from '../../../plugins/xmpp/connection.js'
import plugin from '../../../plugins/xmpp/index.js'
import { NS } from '../../../plugins/xmpp/wire.js'
import { createPluginContext, type FakePluginContext } from '../../helpers/plugin-context.js'
import { type ProsodyPeer, startProsody } from '../../peers/prosody.js'
import { connectRawUser, type RawXmppUser } from '../../peers/raw-xmpp.js'
import { startTcpProxy } from '../../peers/tcp-proxy.js'

let peer: ProsodyPeer
t.before(async () => {
  peer = await startProsody({
    users: [
      { username: 'bot', password: 'bot-pw' },
      { username: 'alice', password: 'alice-pw' },
    ],
  })
})
t.teardown(() => peer?.stop())

const BOT = 'xmpp:bot@parley.test'
const ALICE = 'xmpp:alice@parley.test'
let sequence = 0
const nextId = () => `msg-${process.pid}-${++sequence}`

/** The plugin as `bot`, each connection with its own resource (one resource, one session), stopped at teardown. */
function connection(
  t: Test,
  options: { ctx?: FakePluginContext; config?: Partial<XmppConfig> } = {},
) {
  const ctx = options.ctx ?? createPluginContext()
  const conn = plugin.create(ctx, {
    service: peer.service,
    domain: peer.domain,
    username: 'bot',
    password: 'bot-pw',
    resource: `r${++sequence}`,
    reconnectMinMs: 50,
    reconnectMaxMs: 200,
    ...options.config,
  }) as XmppConnection
  t.teardown(() => conn.stop())
  return { ctx, conn }
}

/** The plugin online as `bot`. */
async function online(t: Test, options: { service?: string; ctx?: FakePluginContext } = {}) {
  const { ctx, conn } = connection(t, {
    ...(options.ctx && { ctx: options.ctx }),
    ...(options.service && { config: { service: options.service } }),
  })
  await conn.start()
  return { ctx, conn }
}

async function alice(t: Test, resource?: string): Promise<RawXmppUser> {
  const user = await connectRawUser(peer, 'alice', 'alice-pw', resource ? { resource } : {})
  t.teardown(() => user.stop())
  return user
}

t.test('a message from a user becomes one message event with the stanza id', async (t) => {
  const { ctx } = await online(t)
  const user = await alice(t)
  const id = await user.message('bot@parley.test', 'hello bot', { id: 'alice-1' })
  const event = await ctx.waitForEvent<InboundMessage>((e) => e.type === 'message')
  t.equal(id, 'alice-1')
  t.match(event, { type: 'message', from: ALICE, to: BOT, remoteId: 'alice-1', text: 'hello bot' })
  t.ok(event.at && !Number.isNaN(Date.parse(event.at)), 'carries a timestamp')
})

t.test('send() delivers a chat message whose id derives from the Parley id', async (t) => {
  const { conn } = await online(t)
  const user = await alice(t)
  const id = nextId()
  const result = await conn.send({ id, from: BOT, to: ALICE, text: 'hi alice', thread: 'th-1' })
  t.same(result, { remoteId: `parley-${id}` })
  const stanza = await user.waitFor((s) => s.name === 'message' && s.attrs.id === result.remoteId)
  t.equal(stanza.attrs.type, 'chat')
  t.equal(stanza.getChildText('body'), 'hi alice')
  t.equal(stanza.getChildText('thread'), 'th-1')
  t.match(stanza.attrs.from, /^bot@parley\.test\//)
  const again = await conn.send({ id, from: BOT, to: ALICE, text: 'hi alice' })
  t.equal(again.remoteId, result.remoteId, 'a retry reuses the stanza id')
})

t.test('send() resolves only once the server acknowledged the stanza (XEP-0198)', async (t) => {
  const user = await alice(t)
  const proxy = await startTcpProxy({ port: peer.port })
  t.teardown(() => proxy.close())
  const { conn: behindProxy } = await online(t, { service: proxy.service })
  // Acks flow normally: resolves fast.
  await behindProxy.send({ id: nextId(), from: BOT, to: ALICE, text: 'before' })
  // A silent network: the stanza leaves, no <a/> comes back, send() waits.
  proxy.blackhole()
  let settled = false
  const pending = behindProxy
    .send({ id: nextId(), from: BOT, to: ALICE, text: 'in the dark' })
    .finally(() => {
      settled = true
    })
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.notOk(settled, 'no ack, no resolution')
  proxy.restore()
  // The server got the stanza and the <r/> once the line works again.
  const result = await pending
  t.match(result.remoteId, /^parley-/)
  await user.waitFor((s) => s.getChildText('body') === 'in the dark')
})

t.test('send() rejects retryable when the stream is lost and cannot be resumed', async (t) => {
  const proxy = await startTcpProxy({ port: peer.port })
  t.teardown(() => proxy.close())
  const { conn } = connection(t, {
    config: {
      service: proxy.service,
      resource: 'no-ack',
      reconnectMinMs: 5000,
      reconnectMaxMs: 5000,
      ackTimeoutMs: 400,
    },
  })
  await conn.start()
  proxy.blackhole()
  const pending = conn.send({ id: nextId(), from: BOT, to: ALICE, text: 'lost?' })
  await t.rejects(pending, {
    name: 'PluginError',
    code: 'PARLEY_ERR_SEND_FAILED',
    retryable: true,
    condition: 'ack-timeout',
  })
})

t.test(
  'a link lost between <enable/> and <enabled/> leaves acks working on the next session',
  async (t) => {
    // Stanzas sent after <enable/> wait in @xmpp/stream-management's queue; if
    // <enabled/> never comes the stream has no id to resume with, and without
    // stream-management.ts's fix the next session's acks are matched against
    // those stale stanzas: every send() then times out.
    const proxy = await startTcpProxy({ port: peer.port })
    t.teardown(() => proxy.close())
    proxy.onClientData(/<enable /, 'blackhole')
    const { ctx, conn } = connection(t, {
      config: {
        service: proxy.service,
        reconnectMinMs: 20,
        reconnectMaxMs: 50,
        connectTimeoutMs: 1000,
        ackTimeoutMs: 1500,
      },
    })
    await conn.start().catch(() => {})
    await new Promise((resolve) => setTimeout(resolve, 100))
    proxy.cut()
    await ctx.until(() => proxy.accepted >= 2 && ctx.statuses.at(-1)?.state === 'online', {
      timeoutMs: 5000,
    })
    const user = await alice(t)
    const { remoteId } = await conn.send({
      id: nextId(),
      from: BOT,
      to: ALICE,
      text: 'acked again',
    })
    await user.waitFor((s) => s.attrs.id === remoteId)
    t.notOk(
      ctx.logs.some((l) => /assertion failure/.test(String(l.obj.err))),
      'no "queue should be empty after enable" from the library',
    )
  },
)

t.test(
  'send() while not connected, from a foreign identity or to a bad address throws PluginError',
  async (t) => {
    const { conn } = connection(t)
    const offline = await conn
      .send({ id: nextId(), from: BOT, to: ALICE, text: 'x' })
      .catch((e: unknown) => e)
    t.ok(PluginError.is(offline))
    t.match(offline, { code: 'PARLEY_ERR_NOT_CONNECTED', retryable: true })
    await conn.start()
    await t.rejects(
      conn.send({ id: nextId(), from: 'xmpp:other@parley.test', to: ALICE, text: 'x' }),
      {
        code: 'PARLEY_ERR_NO_IDENTITY',
        retryable: false,
      },
    )
    await t.rejects(conn.send({ id: nextId(), from: BOT, to: 'xmpp:not a jid', text: 'x' }), {
      code: 'PARLEY_ERR_ADDRESS_INVALID',
      retryable: false,
    })
    await t.rejects(
      conn.send({ id: nextId(), from: BOT, to: 'sip:alice@parley.test', text: 'x' }),
      {
        code: 'PARLEY_ERR_ADDRESS_INVALID',
        retryable: false,
      },
    )
  },
)

t.test(
  'a message to an unknown account is accepted by the server and bounced later (logged)',
  async (t) => {
    const { conn, ctx } = await online(t)
    const result = await conn.send({
      id: nextId(),
      from: BOT,
      to: 'xmpp:nobody@parley.test',
      text: 'hello?',
    })
    const bounce = await ctx.waitForLog(
      (l) => l.msg === 'message bounced' && l.obj.id === result.remoteId,
    )
    t.equal(bounce.obj.condition, 'service-unavailable')
    t.equal(bounce.obj.code, 'PARLEY_ERR_REMOTE_REFUSED')
  },
)

t.test('non-ASCII text split across TCP reads arrives intact', async (t) => {
  // @xmpp/connection decodes each read on its own; library-fixes.ts keeps
  // the partial character for the next read. Large bodies make splits certain.
  const { ctx } = await online(t)
  const user = await alice(t)
  for (let i = 0; i < 8; i++) {
    const text = `${'ü'.repeat(30_000 + i)} 😀 ${'日本'.repeat(5000)}`
    await user.message('bot@parley.test', text, { id: `utf8-${i}` })
    const event = await ctx.waitForEvent<InboundMessage>((e) => e.remoteId === `utf8-${i}`)
    t.ok(event.text === text, `message ${i} intact (${event.text.length} of ${text.length} chars)`)
  }
})

t.test('control characters in outbound text do not break the stream', async (t) => {
  const { conn } = await online(t)
  const user = await alice(t)
  await conn.send({ id: nextId(), from: BOT, to: ALICE, text: 'nul\u0000 bell\u0007 ok' })
  await conn.send({ id: nextId(), from: BOT, to: ALICE, text: 'still here' })
  await user.waitFor((s) => s.getChildText('body') === 'nul bell ok')
  await user.waitFor((s) => s.getChildText('body') === 'still here')
})

t.test('chat states become typing events and receipts become receipt events', async (t) => {
  const { ctx, conn } = await online(t)
  const user = await alice(t)
  await user.send(
    xml(
      'message',
      { to: 'bot@parley.test', type: 'chat', id: 'cs-1' },
      xml('composing', { xmlns: NS.chatStates }),
    ),
  )
  const typing = await ctx.waitForEvent<InboundTyping>((e) => e.type === 'typing')
  t.match(typing, { from: ALICE, to: BOT, state: 'composing', remoteId: 'cs-1' })

  const { remoteId } = await conn.send({
    id: nextId(),
    from: BOT,
    to: ALICE,
    text: 'please confirm',
  })
  const sent = await user.waitFor((s) => s.attrs.id === remoteId)
  t.ok(sent.getChild('request', NS.receipts), 'asks for a receipt')
  await user.send(
    xml(
      'message',
      { to: sent.attrs.from, id: 'rc-1' },
      xml('received', { xmlns: NS.receipts, id: remoteId }),
    ),
  )
  const receipt = await ctx.waitForEvent<InboundReceipt>((e) => e.type === 'receipt')
  t.match(receipt, { from: ALICE, to: BOT, receiptFor: remoteId, status: 'delivered' })
})

t.test('a receipt request is answered only after the host accepted the message', async (t) => {
  let accept: () => void = () => {}
  const accepted = new Promise<void>((resolve) => {
    accept = resolve
  })
  const ctx = createPluginContext({ onEmit: (e) => (e.type === 'message' ? accepted : undefined) })
  await online(t, { ctx })
  const user = await alice(t)
  await user.send(
    xml(
      'message',
      { to: 'bot@parley.test', type: 'chat', id: 'want-receipt' },
      xml('body', {}, 'tell me when you have it'),
      xml('request', { xmlns: NS.receipts }),
    ),
  )
  await ctx.until(() => ctx.emitted.some((e) => e.remoteId === 'want-receipt'))
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.notOk(
    user.received.some((s) => s.getChild('received', NS.receipts)),
    'no receipt while the host has not queued it',
  )
  accept()
  const receipt = await user.waitFor((s) => Boolean(s.getChild('received', NS.receipts)))
  t.equal(receipt.getChild('received', NS.receipts)?.attrs.id, 'want-receipt')
})

t.test('when the host cannot queue a message the sender gets an error, not silence', async (t) => {
  const ctx = createPluginContext({
    onEmit: (e) => {
      if (e.type !== 'message') return
      if (e.text === 'queue down')
        throw Object.assign(new Error('redis is down'), { retryable: true })
      if (e.text === 'not allowed')
        throw new PluginError('PARLEY_ERR_CAPABILITY', 'blocked', { retryable: false })
    },
  })
  await online(t, { ctx })
  const user = await alice(t)
  await user.message('bot@parley.test', 'queue down', { id: 'q-1' })
  const wait = await user.waitFor((s) => s.attrs.type === 'error' && s.attrs.id === 'q-1')
  t.equal(wait.getChild('error')?.attrs.type, 'wait')
  t.ok(wait.getChild('error')?.getChild('resource-constraint', NS.stanzas))
  await user.message('bot@parley.test', 'not allowed', { id: 'q-2' })
  const cancel = await user.waitFor((s) => s.attrs.type === 'error' && s.attrs.id === 'q-2')
  t.equal(cancel.getChild('error')?.attrs.type, 'cancel')
  t.ok(cancel.getChild('error')?.getChild('service-unavailable', NS.stanzas))
  t.notOk(
    ctx.events.some((e) => e.type === 'message'),
    'nothing reported as accepted',
  )
  t.ok(
    ctx.logs.some(
      (l) => l.level === 'warn' && l.msg === 'inbound message refused back to its sender',
    ),
  )
})

t.test(
  'a message still on its way into the host is redelivered after the stream is resumed',
  async (t) => {
    const proxy = await startTcpProxy({ port: peer.port })
    t.teardown(() => proxy.close())
    // The first emit of the message never completes (the host is stuck), so
    // the plugin must not have acknowledged it to the server.
    let first = true
    const ctx = createPluginContext({
      onEmit: (e) => {
        if (e.type === 'message' && e.remoteId === 'held-1' && first) {
          first = false
          return new Promise<void>(() => {})
        }
      },
    })
    await online(t, { service: proxy.service, ctx })
    const user = await alice(t)
    await user.message('bot@parley.test', 'do not lose me', { id: 'held-1' })
    await ctx.until(() => ctx.emitted.some((e) => e.remoteId === 'held-1'))
    const mark = ctx.mark()
    proxy.cut()
    const resumed = await ctx.waitForStatus((s) => s.state === 'online', {
      since: mark.statuses,
      timeoutMs: 5000,
    })
    t.equal(resumed.reason, 'stream resumed', 'XEP-0198 resumption, same session')
    const again = await ctx.waitForEvent<InboundMessage>(
      (e) => e.type === 'message' && e.remoteId === 'held-1',
    )
    t.equal(again.text, 'do not lose me', 'the server re-sent what we had not acknowledged')
    t.same(
      ctx.statuses.slice(mark.statuses).map((s) => s.state),
      ['offline', 'connecting', 'online'],
    )
  },
)
