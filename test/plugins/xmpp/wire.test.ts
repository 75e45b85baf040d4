import { type Element, xml } from '@xmpp/client'
import t from 'tap'
import * as wire from '../../../plugins/xmpp/wire.js'

const self = { bare: 'bot@parley.test', domain: 'parley.test' }
const now = new Date('2030-01-02T03:04:05.000Z')

t.test('toAvailability maps every RFC 6121 show value and unavailable', async (t) => {
  t.equal(wire.toAvailability(undefined), 'available', 'no show')
  t.equal(wire.toAvailability(null), 'available', 'null show')
  t.equal(wire.toAvailability(''), 'available', 'empty show')
  t.equal(wire.toAvailability('chat'), 'available')
  t.equal(wire.toAvailability('away'), 'away')
  t.equal(wire.toAvailability('xa'), 'away')
  t.equal(wire.toAvailability('dnd'), 'dnd')
  t.equal(
    wire.toAvailability('bogus'),
    'available',
    'an unknown show on an available presence is still available',
  )
  t.equal(wire.toAvailability(undefined, 'unavailable'), 'offline')
  t.equal(wire.toAvailability('dnd', 'unavailable'), 'offline', 'type wins over show')
})

t.test('fromAvailability picks the closest show, and refuses unknown', async (t) => {
  t.same(wire.fromAvailability('available'), {})
  t.same(wire.fromAvailability('away'), { show: 'away' })
  t.same(wire.fromAvailability('dnd'), { show: 'dnd' })
  t.same(wire.fromAvailability('busy'), { show: 'dnd' })
  t.same(wire.fromAvailability('offline'), { type: 'unavailable' })
  t.equal(wire.fromAvailability('unknown'), undefined)
})

t.test('subscription presence types map to contract actions', async (t) => {
  t.equal(wire.toSubscriptionAction('subscribe'), 'request')
  t.equal(wire.toSubscriptionAction('subscribed'), 'approved')
  t.equal(wire.toSubscriptionAction('unsubscribe'), 'removed')
  t.equal(wire.toSubscriptionAction('unsubscribed'), 'refused')
  t.equal(wire.toSubscriptionAction('unavailable'), undefined)
  t.equal(wire.toSubscriptionAction('probe'), undefined)
  t.equal(wire.toSubscriptionAction(undefined), undefined)
})

t.test('normalizeId returns the bare JID with lower-cased localpart and domain', async (t) => {
  t.equal(wire.normalizeId('Alice@Example.ORG'), 'alice@example.org')
  t.equal(wire.normalizeId('alice@example.org/Phone'), 'alice@example.org', 'resource dropped')
  t.equal(
    wire.normalizeId('alice@example.org/a/b@c'),
    'alice@example.org',
    "resource may hold '/' and '@'",
  )
  t.equal(wire.normalizeId('example.org'), 'example.org', 'a domain is a JID')
  t.equal(wire.normalizeId('example.org.'), 'example.org', 'trailing dot dropped')
  t.equal(wire.normalizeId('ÉLODIE@Café.example'), 'élodie@café.example', 'Unicode case-folded')
  t.equal(wire.normalizeId('e\u0301lodie@x.example'), 'élodie@x.example', 'NFC')
  t.equal(wire.normalizeId('bob@127.0.0.1'), 'bob@127.0.0.1')
  t.equal(wire.normalizeId('bob@[::1]'), 'bob@[::1]')
  t.equal(wire.normalizeId('svc@gw_1.example'), 'svc@gw_1.example')
  t.same(wire.parseJid('Bob@Example.org/Res'), {
    local: 'bob',
    domain: 'example.org',
    resource: 'Res',
  })
})

t.test('normalizeId rejects malformed JIDs with PARLEY_ERR_ADDRESS_INVALID', async (t) => {
  const bad = [
    '',
    '@example.org',
    'alice@',
    'alice@example.org/',
    'a@b@example.org',
    'al ice@example.org',
    'al"ice@example.org',
    "al'ice@example.org",
    'al&ice@example.org',
    'al<ice@example.org',
    'al>ice@example.org',
    'al:ice@example.org',
    'xmpp:alice@example.org',
    'alice@exa mple.org',
    'alice@-example.org',
    'alice@example-.org',
    'alice@exa..mple.org',
    'alice@example.org/res\u0000',
    'al\u0007ice@example.org',
    `${'a'.repeat(1024)}@example.org`,
    `alice@${'a'.repeat(64)}.org`,
    'alice@[not-an-ip]',
  ]
  for (const id of bad) {
    t.throws(
      () => wire.normalizeId(id),
      { code: 'PARLEY_ERR_ADDRESS_INVALID' },
      JSON.stringify(id).slice(0, 60),
    )
  }
  t.throws(() => wire.normalizeId(undefined as unknown as string), {
    code: 'PARLEY_ERR_ADDRESS_INVALID',
  })
})

t.test('stanzaIdFor is stable per Parley id and safe for any id', async (t) => {
  t.equal(wire.stanzaIdFor('0b6c-1'), 'parley-0b6c-1')
  t.equal(wire.stanzaIdFor('0b6c-1'), wire.stanzaIdFor('0b6c-1'))
  const odd = wire.stanzaIdFor('id with spaces & <xml>')
  t.match(odd, /^parley-h-[A-Za-z0-9_-]{22}$/)
  t.equal(odd, wire.stanzaIdFor('id with spaces & <xml>'))
  t.not(odd, wire.stanzaIdFor('id with spaces & <xml>!'))
})

t.test('xmlSafe drops what XML 1.0 cannot carry and keeps the rest', async (t) => {
  t.equal(wire.xmlSafe('a\u0000b\u0008c\u000bd\u001fe'), 'abcde')
  t.equal(wire.xmlSafe('tab\tnl\ncr\r'), 'tab\tnl\ncr\r')
  t.equal(wire.xmlSafe('emoji 😀 ok'), 'emoji 😀 ok')
  t.equal(wire.xmlSafe('lone \ud800 high, lone \udc00 low'), 'lone  high, lone  low')
  t.equal(wire.xmlSafe('\ufffe\uffff'), '')
  t.equal(wire.chatMessage({ to: 'a@b.c', id: 'x', text: 'bad\u0001' }).getChildText('body'), 'bad')
})

t.test(
  'chatMessage builds a chat message with body, thread, receipt request and chat state',
  async (t) => {
    const stanza = wire.chatMessage({
      to: 'alice@parley.test',
      id: 'parley-1',
      text: '<b>&',
      thread: 't1',
    })
    t.equal(stanza.attrs.type, 'chat')
    t.equal(stanza.attrs.to, 'alice@parley.test')
    t.equal(stanza.attrs.id, 'parley-1')
    t.equal(stanza.getChildText('body'), '<b>&')
    t.match(stanza.toString(), /<body>&lt;b&gt;&amp;<\/body>/, 'escaped on the wire')
    t.equal(stanza.getChildText('thread'), 't1')
    t.ok(stanza.getChild('request', wire.NS.receipts))
    t.ok(stanza.getChild('active', wire.NS.chatStates))
  },
)

function message(attrs: Record<string, string>, ...children: Element[]): Element {
  return xml('message', { to: 'bot@parley.test/parley', ...attrs }, ...children)
}

t.test('readMessage turns a chat message into a message event', async (t) => {
  const reading = wire.readMessage(
    message(
      { from: 'Alice@Parley.test/phone', type: 'chat', id: 'm1' },
      xml('body', {}, 'hello'),
      xml('thread', {}, 'th'),
      xml('request', { xmlns: wire.NS.receipts }),
    ),
    self,
    now,
  )
  t.same(reading, {
    kind: 'event',
    event: {
      type: 'message',
      from: 'xmpp:alice@parley.test',
      to: 'xmpp:bot@parley.test',
      at: now.toISOString(),
      remoteId: 'm1',
      text: 'hello',
      thread: 'th',
    },
    receiptRequested: true,
  })
})

t.test('readMessage treats a missing type as normal and uses the delay stamp', async (t) => {
  const reading = wire.readMessage(
    message(
      { from: 'alice@parley.test/x', id: 'm2' },
      xml('body', {}, 'stored'),
      xml('delay', { xmlns: wire.NS.delay, stamp: '2029-12-31T23:59:59Z' }),
    ),
    self,
    now,
  )
  t.equal(reading.kind, 'event')
  if (reading.kind === 'event') {
    t.equal(reading.event.type, 'message')
    t.equal(reading.event.at, '2029-12-31T23:59:59.000Z')
    t.equal(reading.receiptRequested, false)
  }
})

t.test(
  'readMessage synthesises the same id for the same id-less stanza (redelivery)',
  async (t) => {
    const make = () =>
      message({ from: 'alice@parley.test/x', type: 'chat' }, xml('body', {}, 'no id'))
    const a = wire.readMessage(make(), self, now)
    const b = wire.readMessage(make(), self, new Date())
    t.ok(a.kind === 'event' && b.kind === 'event')
    if (a.kind === 'event' && b.kind === 'event') {
      t.match(a.event.remoteId, /^msg-/)
      t.equal(a.event.remoteId, b.event.remoteId)
    }
    const other = wire.readMessage(
      message({ from: 'alice@parley.test/x', type: 'chat' }, xml('body', {}, 'other')),
      self,
    )
    t.ok(other.kind === 'event' && a.kind === 'event' && other.event.remoteId !== a.event.remoteId)
  },
)

t.test('readMessage treats an unknown type as normal (RFC 6121 §5.2.2)', async (t) => {
  const reading = wire.readMessage(
    message({ from: 'alice@parley.test/x', type: 'bogus', id: 'b1' }, xml('body', {}, 'hi')),
    self,
  )
  t.ok(reading.kind === 'event' && reading.event.type === 'message' && reading.event.text === 'hi')
})

t.test('readMessage picks the body without xml:lang when there are several', async (t) => {
  const reading = wire.readMessage(
    message(
      { from: 'alice@parley.test/x', type: 'chat', id: 'm3' },
      xml('body', { 'xml:lang': 'fr' }, 'bonjour'),
      xml('body', {}, 'hello'),
    ),
    self,
  )
  t.ok(
    reading.kind === 'event' && reading.event.type === 'message' && reading.event.text === 'hello',
  )
})

t.test(
  'readMessage maps XEP-0085 chat states of body-less messages to typing events',
  async (t) => {
    for (const state of ['active', 'composing', 'paused', 'inactive', 'gone'] as const) {
      const reading = wire.readMessage(
        message(
          { from: 'alice@parley.test/x', type: 'chat', id: `s-${state}` },
          xml(state, { xmlns: wire.NS.chatStates }),
        ),
        self,
      )
      t.same(reading.kind === 'event' && reading.event, {
        type: 'typing',
        from: 'xmpp:alice@parley.test',
        to: 'xmpp:bot@parley.test',
        at: reading.kind === 'event' ? reading.event.at : '',
        remoteId: `s-${state}`,
        state,
      })
    }
    const withBody = wire.readMessage(
      message(
        { from: 'alice@parley.test/x', type: 'chat', id: 'sb' },
        xml('body', {}, 'hi'),
        xml('active', { xmlns: wire.NS.chatStates }),
      ),
      self,
    )
    t.ok(
      withBody.kind === 'event' && withBody.event.type === 'message',
      'a body wins over a chat state',
    )
  },
)

t.test('readMessage maps XEP-0184 receipts and XEP-0333 markers to receipt events', async (t) => {
  const receipt = wire.readMessage(
    message(
      { from: 'alice@parley.test/x', id: 'r1' },
      xml('received', { xmlns: wire.NS.receipts, id: 'parley-9' }),
    ),
    self,
  )
  t.ok(receipt.kind === 'event' && receipt.event.type === 'receipt')
  if (receipt.kind === 'event' && receipt.event.type === 'receipt') {
    t.equal(receipt.event.receiptFor, 'parley-9')
    t.equal(receipt.event.status, 'delivered')
  }
  const displayed = wire.readMessage(
    message(
      { from: 'alice@parley.test/x' },
      xml('displayed', { xmlns: wire.NS.markers, id: 'parley-9' }),
    ),
    self,
  )
  t.ok(
    displayed.kind === 'event' &&
      displayed.event.type === 'receipt' &&
      displayed.event.status === 'displayed',
  )
  t.ok(displayed.kind === 'event' && displayed.event.remoteId.startsWith('rcpt-'), 'id synthesised')
})

t.test(
  'readMessage ignores what it should not deliver, and reports errors and bad JIDs',
  async (t) => {
    const kind = (stanza: Element) => wire.readMessage(stanza, self).kind
    t.equal(
      kind(message({ from: 'alice@parley.test/x', type: 'chat' })),
      'ignored',
      'no body, nothing else',
    )
    t.equal(
      kind(message({ from: 'alice@parley.test/x', type: 'chat' }, xml('body', {}))),
      'ignored',
      'empty body',
    )
    t.equal(
      kind(message({ from: 'room@muc.parley.test/x', type: 'groupchat' }, xml('body', {}, 'x'))),
      'ignored',
    )
    t.equal(
      kind(message({ from: 'parley.test', type: 'headline' }, xml('body', {}, 'x'))),
      'ignored',
    )
    t.equal(kind(message({ type: 'chat' }, xml('body', {}, 'no from'))), 'ignored')
    t.equal(
      kind(message({ from: 'bot@parley.test/other', type: 'chat' }, xml('body', {}, 'me'))),
      'ignored',
      'own account',
    )
    t.equal(
      kind(message({ from: 'al ice@parley.test', type: 'chat' }, xml('body', {}, 'x'))),
      'invalid',
    )
    const error = wire.readMessage(
      message(
        { from: 'nobody@parley.test', type: 'error', id: 'parley-1' },
        xml(
          'error',
          { type: 'cancel' },
          xml('service-unavailable', { xmlns: wire.NS.stanzas }),
          xml('text', { xmlns: wire.NS.stanzas }, 'gone'),
        ),
      ),
      self,
    )
    t.same(error, {
      kind: 'error',
      from: 'nobody@parley.test',
      id: 'parley-1',
      condition: 'service-unavailable',
      text: 'gone',
    })
  },
)

function presence(attrs: Record<string, string>, ...children: Element[]): Element {
  return xml('presence', { to: 'bot@parley.test/parley', ...attrs }, ...children)
}

t.test('readPresence maps show, status and priority', async (t) => {
  const reading = wire.readPresence(
    presence(
      { from: 'Alice@parley.test/phone', id: 'p1' },
      xml('show', {}, 'xa'),
      xml('status', {}, 'gone fishing'),
      xml('priority', {}, '5'),
    ),
    self,
  )
  t.same(reading, {
    kind: 'presence',
    from: 'alice@parley.test',
    resource: 'phone',
    availability: 'away',
    raw: 'xa',
    priority: 5,
    id: 'p1',
    status: 'gone fishing',
  })
  const plain = wire.readPresence(presence({ from: 'alice@parley.test/pc' }), self)
  t.ok(plain.kind === 'presence' && plain.availability === 'available' && plain.raw === 'available')
  const gone = wire.readPresence(
    presence({ from: 'alice@parley.test/pc', type: 'unavailable' }),
    self,
  )
  t.ok(gone.kind === 'presence' && gone.availability === 'offline' && gone.raw === 'unavailable')
  const bogus = wire.readPresence(
    presence({ from: 'alice@parley.test/pc' }, xml('show', {}, 'sleeping')),
    self,
  )
  t.ok(
    bogus.kind === 'presence' &&
      bogus.availability === 'available' &&
      bogus.unknownShow === 'sleeping',
  )
  const clamped = wire.readPresence(
    presence({ from: 'alice@parley.test/pc' }, xml('priority', {}, '999')),
    self,
  )
  t.ok(clamped.kind === 'presence' && clamped.priority === 127)
  const nan = wire.readPresence(
    presence({ from: 'alice@parley.test/pc' }, xml('priority', {}, 'high')),
    self,
  )
  t.ok(nan.kind === 'presence' && nan.priority === 0)
})

t.test('readPresence maps subscription types and skips probes, self and bad types', async (t) => {
  for (const [type, action] of [
    ['subscribe', 'request'],
    ['subscribed', 'approved'],
    ['unsubscribe', 'removed'],
    ['unsubscribed', 'refused'],
  ] as const) {
    t.same(wire.readPresence(presence({ from: 'alice@parley.test', type, id: 's' }), self), {
      kind: 'subscription',
      from: 'alice@parley.test',
      action,
      raw: type,
      id: 's',
    })
  }
  t.equal(
    wire.readPresence(presence({ from: 'alice@parley.test', type: 'probe' }), self).kind,
    'ignored',
  )
  t.equal(wire.readPresence(presence({ from: 'bot@parley.test/other' }), self).kind, 'ignored')
  t.equal(
    wire.readPresence(presence({ from: 'alice@parley.test', type: 'weird' }), self).kind,
    'invalid',
  )
  t.equal(wire.readPresence(presence({ from: 'a@@parley.test' }), self).kind, 'invalid')
  t.equal(wire.readPresence(presence({}), self).kind, 'ignored')
  t.same(
    wire.readPresence(
      presence(
        { from: 'alice@parley.test', type: 'error' },
        xml('error', {}, xml('remote-server-not-found', { xmlns: wire.NS.stanzas })),
      ),
      self,
    ),
    { kind: 'error', from: 'alice@parley.test', condition: 'remote-server-not-found' },
  )
})

t.test('bestPresence prefers priority, then availability, then the newest', async (t) => {
  const r = (
    resource: string,
    availability: wire.ResourcePresence['availability'],
    priority: number,
    seq: number,
  ) => ({
    resource,
    availability,
    raw: availability,
    priority,
    seq,
  })
  t.equal(wire.bestPresence([]), undefined)
  t.equal(wire.bestPresence([r('a', 'away', 10, 1), r('b', 'available', 0, 2)])?.resource, 'a')
  t.equal(wire.bestPresence([r('a', 'away', 0, 1), r('b', 'available', 0, 2)])?.resource, 'b')
  t.equal(wire.bestPresence([r('a', 'available', 0, 3), r('b', 'dnd', 0, 2)])?.resource, 'a')
  t.equal(wire.bestPresence([r('a', 'away', 0, 1), r('b', 'away', 0, 2)])?.resource, 'b')
})

t.test('messageError answers with the original id and never answers an error', async (t) => {
  const original = message(
    { from: 'alice@parley.test/x', type: 'chat', id: 'm9' },
    xml('body', {}, 'hi'),
  )
  const reply = wire.messageError(original, {
    type: 'wait',
    condition: 'resource-constraint',
    text: 'later',
  })
  t.equal(reply?.attrs.type, 'error')
  t.equal(reply?.attrs.to, 'alice@parley.test/x')
  t.equal(reply?.attrs.id, 'm9')
  t.equal(reply?.getChild('error')?.attrs.type, 'wait')
  t.ok(reply?.getChild('error')?.getChild('resource-constraint', wire.NS.stanzas))
  t.equal(reply?.getChild('error')?.getChildText('text', wire.NS.stanzas), 'later')
  t.equal(
    wire.messageError(message({ from: 'a@b.c', type: 'error' }), {
      type: 'cancel',
      condition: 'x',
    }),
    undefined,
  )
})

t.test('presenceStanza and subscription stanzas', async (t) => {
  t.equal(wire.presenceStanza({ availability: 'available' })?.toString(), '<presence/>')
  const away = wire.presenceStanza({ availability: 'away', status: 'lunch' })
  t.equal(away?.getChildText('show'), 'away')
  t.equal(away?.getChildText('status'), 'lunch')
  t.equal(wire.presenceStanza({ availability: 'offline' })?.attrs.type, 'unavailable')
  t.equal(wire.presenceStanza({ availability: 'unknown' }), undefined)
  const sub = wire.subscriptionStanza('subscribed', 'alice@parley.test')
  t.equal(sub.attrs.type, 'subscribed')
  t.equal(sub.attrs.to, 'alice@parley.test')
  t.equal(wire.probeStanza('alice@parley.test').attrs.type, 'probe')
})

t.test('readRoster reads items and skips malformed JIDs', async (t) => {
  const query = xml(
    'query',
    { xmlns: wire.NS.roster },
    xml(
      'item',
      { jid: 'Alice@parley.test', name: 'Alice', subscription: 'both' },
      xml('group', {}, 'Friends'),
    ),
    xml('item', { jid: 'bob@parley.test', subscription: 'none', ask: 'subscribe' }),
    xml('item', { jid: 'bad jid@parley.test' }),
    xml('item', {}),
  )
  t.same(wire.readRoster(query), [
    { jid: 'alice@parley.test', subscription: 'both', groups: ['Friends'], name: 'Alice' },
    { jid: 'bob@parley.test', subscription: 'none', groups: [], ask: 'subscribe' },
  ])
  t.same(wire.readRoster(undefined), [])
})
