import t from 'tap'
import type { InboundEvent } from '../../core/contract/index.js'
import { eventProblems } from './conformance.js'

t.test('eventProblems accepts a good event and names what is wrong with bad ones', async (t) => {
  const good: InboundEvent = {
    type: 'message',
    from: 'xmpp:alice@x.test',
    to: 'xmpp:bot@x.test',
    remoteId: 'r1',
    text: 'hi',
    at: new Date().toISOString(),
  }
  t.same(eventProblems(good, 'xmpp', ['xmpp:bot@x.test']), [])
  const bad = {
    ...good,
    from: 'sip:alice@x.test',
    to: 'xmpp:other@x.test',
    remoteId: '',
    at: 'never',
  }
  t.same(eventProblems(bad, 'xmpp', ['xmpp:bot@x.test']), [
    "from is on 'sip'",
    "to 'xmpp:other@x.test' is not one of the identities",
    'empty remoteId',
    "bad timestamp 'never'",
  ])
  const presence = {
    type: 'presence',
    from: 'xmpp:a@x.test',
    to: 'xmpp:bot@x.test',
    remoteId: 'p',
    availability: 'sleepy',
  }
  t.same(eventProblems(presence as unknown as InboundEvent, 'xmpp', ['xmpp:bot@x.test']), [
    "availability 'sleepy'",
  ])
})
