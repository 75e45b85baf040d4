/**
 * plugins/xmpp against the conformance suite, with a real Prosody as the peer
 * and `alice`, a plain @xmpp/client user, as the other side.
 */
import { type Element, xml } from '@xmpp/client'
import t from 'tap'
import { type AddressString, parseAddress } from '../../core/contract/index.js'
import { NS } from '../../plugins/xmpp/wire.js'
import { freePort, startProsody } from '../peers/prosody.js'
import { connectRawUser } from '../peers/raw-xmpp.js'
import { runConformance } from './conformance.js'

const peer = await startProsody({
  users: [
    { username: 'bot', password: 'bot-pw' },
    { username: 'alice', password: 'alice-pw' },
  ],
})
t.teardown(() => peer.stop())
const alice = await connectRawUser(peer, 'alice', 'alice-pw')
t.teardown(() => alice.stop())

let resource = 0
const base = () => ({
  service: peer.service,
  domain: peer.domain,
  username: 'bot',
  password: 'bot-pw',
  // One resource per connection: a second login on the same resource would
  // replace the first (stream error `conflict`).
  resource: `conformance-${++resource}`,
  reconnectMinMs: 50,
  reconnectMaxMs: 200,
  connectTimeoutMs: 2000,
})

/** The bare JID behind an identity, as alice addresses it. */
const jidOf = (identity: AddressString) => parseAddress(identity).id

const message = (to: string, attrs: Record<string, string>, ...children: Element[]) =>
  xml('message', { to, ...attrs }, ...children)

await runConformance(t, {
  name: 'xmpp',
  loadPlugin: async () => (await import('../../plugins/xmpp/index.js')).default,
  makeConfig: async () => base(),
  makeUnreachableConfig: async () => ({
    ...base(),
    service: `xmpp://127.0.0.1:${await freePort()}`,
  }),
  makeBadCredentialsConfig: async () => ({ ...base(), password: 'not-the-password' }),
  sendTo: `xmpp:${peer.jid('alice')}`,
  ids: {
    valid: [
      ['Alice@Parley.Test/phone', 'alice@parley.test'],
      ['parley.test', 'parley.test'],
    ],
    invalid: [
      'a@b@parley.test',
      '@parley.test',
      'alice@',
      'al ice@parley.test',
      'xmpp:alice@parley.test',
    ],
  },
  async sendFromPeer(identity, text) {
    await alice.message(jidOf(identity), text)
  },
  async injectGarbage(identity) {
    const to = jidOf(identity)
    const huge = 'ü'.repeat(60_000) // 120 kB of UTF-8, under Prosody's 256 kB stanza limit
    const stanzas: Element[] = [
      message(to, { type: 'chat', id: 'g-nobody' }),
      message(to, { type: 'chat', id: 'g-empty' }, xml('body', {})),
      message(
        to,
        { type: 'chat', id: 'g-unknown' },
        xml('dance', { xmlns: 'urn:example:unknown' }, xml('step', {})),
      ),
      message(
        to,
        { type: 'chat', id: 'g-body-unknown' },
        xml('body', {}, 'body with friends'),
        xml('x', { xmlns: 'jabber:x:oob' }, xml('url', {}, 'javascript:alert(1)')),
      ),
      message(to, { type: 'chat', id: 'g-bad-state' }, xml('dancing', { xmlns: NS.chatStates })),
      message(to, { type: 'chat', id: 'g-receipt-noid' }, xml('received', { xmlns: NS.receipts })),
      message(to, { type: 'chat', id: 'g-request-only' }, xml('request', { xmlns: NS.receipts })),
      message(
        to,
        { type: 'chat', id: 'g-bad-delay' },
        xml('body', {}, 'late?'),
        xml('delay', { xmlns: NS.delay, stamp: 'yesterday' }),
      ),
      message(
        to,
        { type: 'chat', id: 'g-many-bodies' },
        xml('body', { 'xml:lang': 'x' }, 'one'),
        xml('body', { 'xml:lang': 'y' }, 'two'),
      ),
      message(to, { type: 'headline', id: 'g-headline' }, xml('body', {}, 'news')),
      message(to, { type: 'groupchat', id: 'g-groupchat' }, xml('body', {}, 'room')),
      message(
        to,
        { type: 'error', id: 'g-error' },
        xml('error', { type: 'cancel' }, xml('gone', { xmlns: NS.stanzas })),
      ),
      message(to, { type: 'bogus', id: 'g-bogus-type' }, xml('body', {}, 'what type?')),
      message(
        to,
        { type: 'chat', id: 'g-spoofed-from', from: 'evil@@nowhere' },
        xml('body', {}, 'spoofed'),
      ),
      message(to, { type: 'chat', id: 'g-huge' }, xml('body', {}, huge)),
      message(
        to,
        { type: 'chat', id: 'g-unicode' },
        xml('body', {}, '\u202eRTL\u200b zero-width \ud83d\ude00 <&> "\''),
      ),
      message(
        to,
        { type: 'chat', id: 'g-thread' },
        xml('body', {}, 'threaded'),
        xml('thread', {}, 't'.repeat(5000)),
      ),
      message(to, { type: 'chat', id: 'g-deep' }, nest(60)),
      xml(
        'presence',
        { to, id: 'g-show' },
        xml('show', {}, 'sleeping'),
        xml('priority', {}, 'lots'),
      ),
      xml('presence', { to, id: 'g-type', type: 'bogus' }),
      xml(
        'presence',
        { to, id: 'g-sub-junk', type: 'subscribe' },
        xml('junk', { xmlns: 'urn:example:junk' }),
      ),
      xml(
        'iq',
        { to: `${to}/nobody`, type: 'get', id: 'g-iq-noresource' },
        xml('query', { xmlns: 'urn:example:q' }),
      ),
      xml('iq', { to, type: 'bogus', id: 'g-iq-type' }, xml('query', { xmlns: 'urn:example:q' })),
      xml('iq', { to, type: 'result', id: 'g-iq-unsolicited' }),
      xml(
        'iq',
        { to, type: 'set', id: 'g-roster-push' },
        xml('query', { xmlns: NS.roster }, xml('item', { jid: 'evil@x' })),
      ),
    ]
    // To the plugin's own session (the last config made is the connection under test):
    // the client library answers iqs itself; the roster push comes from a third party.
    const full = `${to}/conformance-${resource}`
    stanzas.push(
      xml(
        'iq',
        { to: full, type: 'get', id: 'g-iq-full' },
        xml('nonsense', { xmlns: 'urn:example:n' }),
      ),
      xml(
        'iq',
        { to: full, type: 'get', id: 'g-iq-two' },
        xml('a', { xmlns: 'urn:x:a' }),
        xml('b', { xmlns: 'urn:x:b' }),
      ),
      xml(
        'iq',
        { to: full, type: 'set', id: 'g-roster-full' },
        xml('query', { xmlns: NS.roster }, xml('item', { jid: 'evil@x' })),
      ),
      xml('iq', { to: full, type: 'get', id: 'g-ping' }, xml('ping', { xmlns: NS.ping })),
      message(full, { type: 'chat', id: 'g-full' }, xml('body', {}, 'to the resource')),
    )
    for (const stanza of stanzas) await alice.send(stanza)
    // The plugin answers what it must: a ping, and an error for the rest.
    await alice.waitFor((s) => s.attrs.id === 'g-ping' && s.attrs.type === 'result')
    await alice.waitFor((s) => s.attrs.id === 'g-roster-full' && s.attrs.type === 'error')
    await alice.waitFor((s) => s.attrs.id === 'g-iq-full' && s.attrs.type === 'error')
  },
  afterGarbage(t, ctx) {
    const warnings = ctx.logs.filter(
      (l) => l.level === 'warn' && l.obj.code === 'PARLEY_ERR_WIRE_INVALID',
    )
    t.ok(
      warnings.length > 0,
      `unusable input logged with PARLEY_ERR_WIRE_INVALID (${warnings.length})`,
    )
    t.ok(
      ctx.emitted.some((e) => e.type === 'message' && e.text.length === 60_000),
      'a huge body is delivered whole',
    )
    t.ok(
      ctx.emitted.some(
        (e) =>
          e.type === 'message' &&
          e.remoteId === 'g-spoofed-from' &&
          e.from === `xmpp:${peer.jid('alice')}`,
      ),
      'the server, not the sender, says who sent it',
    )
    t.notOk(
      ctx.emitted.some((e) =>
        ['g-nobody', 'g-empty', 'g-unknown', 'g-headline', 'g-groupchat', 'g-error'].includes(
          e.remoteId,
        ),
      ),
      'nothing emitted for body-less, headline, groupchat or error messages',
    )
  },
})

/** `<a><a>…</a></a>` nested `depth` times. */
function nest(depth: number): Element {
  let element = xml('leaf', {}, 'deep')
  for (let i = 0; i < depth; i++) element = xml('a', { xmlns: 'urn:example:deep' }, element)
  return element
}
