import t from 'tap'
import type { InboundEvent } from '../../core/contract/index.js'
import { eventProblems, satisfies } from './conformance.js'

t.test('satisfies understands the contract ranges plugins declare', async (t) => {
  const yes: Array<[string, string]> = [
    ['1.0.0', '^1.0.0'],
    ['1.4.2', '^1.0.0'],
    ['1.0.0', '~1.0.0'],
    ['1.0.9', '~1.0'],
    ['1.0.0', '1.0.0'],
    ['1.2.3', '1.x'],
    ['1.2.3', '*'],
    ['1.5.0', '>=1.0.0 <2.0.0'],
    ['0.2.5', '^0.2.1'],
  ]
  const no: Array<[string, string]> = [
    ['2.0.0', '^1.0.0'],
    ['0.9.0', '^1.0.0'],
    ['1.1.0', '~1.0.0'],
    ['1.0.1', '1.0.0'],
    ['2.0.0', '>=1.0.0 <2.0.0'],
    ['0.3.0', '^0.2.1'],
    ['1.0.0', 'garbage'],
    ['not-a-version', '*'],
  ]
  for (const [version, range] of yes)
    t.ok(satisfies(version, range), `${version} satisfies ${range}`)
  for (const [version, range] of no)
    t.notOk(satisfies(version, range), `${version} does not satisfy ${range}`)
})

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
