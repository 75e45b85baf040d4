import { xml } from '@xmpp/client'
import t from 'tap'
import type { RosterItem } from '../../../plugins/xmpp/wire.js'
import * as wire from '../../../plugins/xmpp/wire.js'

function item(overrides: Partial<RosterItem> = {}): RosterItem {
  return { jid: 'alice@parley.test', subscription: 'none', groups: [], ...overrides }
}

t.test('rosterEntry maps RFC 6121 subscription states', async (t) => {
  const address = 'xmpp:alice@parley.test'
  t.strictSame(wire.rosterEntry(item({ subscription: 'both' })), {
    address,
    subscription: 'both',
  })
  t.strictSame(
    wire.rosterEntry(item({ subscription: 'to' })),
    { address, subscription: 'both' },
    'to: we receive their presence, which is what a watch is',
  )
  t.strictSame(
    wire.rosterEntry(item({ subscription: 'from' })),
    { address, subscription: 'none' },
    'from: they see ours, we do not see theirs',
  )
  t.strictSame(wire.rosterEntry(item({ subscription: 'none' })), {
    address,
    subscription: 'none',
  })
})

t.test('rosterEntry: ask=subscribe is our pending request', async (t) => {
  const address = 'xmpp:alice@parley.test'
  t.strictSame(wire.rosterEntry(item({ subscription: 'none', ask: 'subscribe' })), {
    address,
    subscription: 'pending-out',
  })
  t.strictSame(
    wire.rosterEntry(item({ subscription: 'from', ask: 'subscribe' })),
    { address, subscription: 'pending-out' },
    'from + ask: they see us, we asked to see them',
  )
  t.strictSame(
    wire.rosterEntry(item({ subscription: 'to', ask: 'subscribe' })),
    { address, subscription: 'both' },
    'an established subscription wins over a stale ask',
  )
  t.strictSame(
    wire.rosterEntry(item({ subscription: 'none', ask: 'unsubscribe' })),
    { address, subscription: 'none' },
    'only ask=subscribe means pending',
  )
})

t.test('rosterEntry: a pushed removal is marked removed', async (t) => {
  t.strictSame(wire.rosterEntry(item({ subscription: 'remove' })), {
    address: 'xmpp:alice@parley.test',
    subscription: 'none',
    removed: true,
  })
  t.strictSame(wire.rosterEntry(item({ subscription: 'remove', name: 'Alice' })), {
    address: 'xmpp:alice@parley.test',
    subscription: 'none',
    displayName: 'Alice',
    removed: true,
  })
  t.notOk('removed' in wire.rosterEntry(item({ subscription: 'both' })), 'others are not')
})

t.test('rosterEntry: the roster name is the display name (at most 255 characters)', async (t) => {
  t.strictSame(wire.rosterEntry(item({ subscription: 'both', name: 'Alice Liddell' })), {
    address: 'xmpp:alice@parley.test',
    subscription: 'both',
    displayName: 'Alice Liddell',
  })
  t.notOk('displayName' in wire.rosterEntry(item({ name: '' })), 'an empty name is no name')
  t.notOk('displayName' in wire.rosterEntry(item()), 'no name')
  const long = 'x'.repeat(300)
  t.equal(wire.rosterEntry(item({ name: long })).displayName, long.slice(0, 255))
})

t.test('rosterEntry: the address is the bare JID on the xmpp network', async (t) => {
  t.equal(wire.rosterEntry(item({ jid: 'bob@example.org' })).address, 'xmpp:bob@example.org')
  t.equal(
    wire.rosterEntry(item({ jid: 'conference.example.org' })).address,
    'xmpp:conference.example.org',
    'a domain JID',
  )
  // From the wire: readRoster normalises, rosterEntry maps.
  const [entry] = wire
    .readRoster(
      xml(
        'query',
        { xmlns: wire.NS.roster },
        xml('item', {
          jid: 'Carol@Example.org',
          subscription: 'to',
          name: 'Carol',
        }),
      ),
    )
    .map(wire.rosterEntry)
  t.strictSame(entry, {
    address: 'xmpp:carol@example.org',
    subscription: 'both',
    displayName: 'Carol',
  })
})
