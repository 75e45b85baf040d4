import t from 'tap'
import { Conversation } from './conversation.js'
import { reportScenario } from './report.js'
import { faultWorld } from './world.js'

/**
 * kill -9 of the host in the middle of a steady conversation with XMPP and
 * SIP users, then a restart (a new process, as an orchestrator would start
 * one): nothing the host had taken is lost, no user gets an answer twice,
 * and the bot gets each message once.
 */
t.setTimeout(180_000)

t.test('kill -9 of the host mid-load, then a restart: nothing lost or duplicated', async (t) => {
  const world = await faultWorld(t, {
    xmppUsers: 1,
    sip: { addresses: ['127.0.0.50', '127.0.0.51', '127.0.0.52'] },
  })
  const talk = new Conversation({ tag: 'kill', parties: world.parties, perParty: 500, rate: 70 })
  talk.start()
  await talk.sentAtLeast(350)
  const faultAt = performance.now()
  await world.host.kill('SIGKILL')
  t.notOk(world.host.running, 'the host is gone')
  // An orchestrator notices and starts a new process.
  await new Promise((resolve) => setTimeout(resolve, 1000))
  await world.host.restart()
  await world.host.waitForNetwork('xmpp', ['online'], 30_000)
  await world.host.waitForNetwork('sip', ['online'], 30_000)
  await talk.finish(60_000)
  reportScenario(
    t,
    { scenario: 'kill -9 host, restart', network: 'xmpp+sip', recoverMs: talk.recoveryMs(faultAt) },
    talk.tally(world.ledger),
  )
})
