import t from 'tap'
import { checkInboundEvent } from '../../../core/queue/inbound-schema.js'

const message = {
  type: 'message',
  from: 'xmpp:a@x.test',
  to: 'xmpp:bot@x.test',
  remoteId: 'r1',
  text: 'hi',
}

t.test('a well-formed event from the emitting network passes', async (t) => {
  t.same(checkInboundEvent('xmpp', message), message)
  const presence = {
    type: 'presence',
    from: 'xmpp:a@x.test',
    to: 'xmpp:bot@x.test',
    remoteId: 'p1',
    availability: 'dnd',
  }
  t.same(checkInboundEvent('xmpp', presence), presence)
})

t.test(
  'malformed events are refused with PARLEY_ERR_WIRE_INVALID naming the problem',
  async (t) => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['not an object', 'hello', /not an inbound event|event/],
      ['unknown type', { ...message, type: 'poke' }, /poke/],
      ['missing text', { ...message, text: undefined }, /message/],
      ['bad availability', { ...message, type: 'presence', availability: 'sleepy' }, /presence/],
      ['empty remote id', { ...message, remoteId: '' }, /remoteId/],
      ['huge text', { ...message, text: 'x'.repeat(70_000) }, /text/],
      [
        'from on another network',
        { ...message, from: 'sip:a@x.test' },
        /event\.from is on network 'sip'/,
      ],
      ['to without network', { ...message, to: 'bot@x.test' }, /event\.to/],
    ]
    for (const [name, event, why] of cases) {
      t.throws(
        () => checkInboundEvent('xmpp', event),
        { code: 'PARLEY_ERR_WIRE_INVALID', message: why },
        name,
      )
    }
  },
)
