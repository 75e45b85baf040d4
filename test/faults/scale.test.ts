import t from 'tap'
import { waitFor } from '../helpers/app.js'
import type { HostProcess } from '../helpers/host-process.js'
import { Conversation } from './conversation.js'
import { reportScenario } from './report.js'
import { faultWorld } from './world.js'

/**
 * Scale-out under failure: three host processes share Redis and PostgreSQL;
 * the first owns the XMPP account and the SIP listener (their leases). It is
 * killed (kill -9) in the middle of a steady conversation with XMPP and SIP
 * users; the survivors take both connections over, every message is
 * answered once, and every survivor names the same new owners.
 */
t.setTimeout(180_000)

interface LeaseView {
  name: string
  status: string
  lease: { owner: string | null; mine: boolean } | null
}

async function leases(host: HostProcess): Promise<LeaseView[]> {
  const res = await host.fetch('/v1/networks')
  return ((await res.json()) as { networks: LeaseView[] }).networks
}

/** Per network, the owner every given process names, or undefined if they disagree. */
async function agreedOwners(hosts: HostProcess[]): Promise<Record<string, string> | undefined> {
  const views = await Promise.all(hosts.map(leases))
  const owners: Record<string, string> = {}
  for (const network of ['xmpp', 'sip']) {
    const named = views.map((v) => v.find((n) => n.name === network)?.lease?.owner ?? null)
    const first = named[0]
    if (!first || named.some((o) => o !== first)) return undefined
    owners[network] = first
  }
  return owners
}

t.test('kill -9 of the process owning the connections, two standing by', async (t) => {
  const world = await faultWorld(t, {
    processes: 3,
    xmppUsers: 1,
    sip: { addresses: ['127.0.0.59', '127.0.0.60', '127.0.0.61'] },
  })
  const [first, ...survivors] = world.hosts as [HostProcess, ...HostProcess[]]
  t.same(
    await agreedOwners(world.hosts),
    { xmpp: first.instanceId, sip: first.instanceId },
    'every process names the first one as owner of both connections',
  )

  const talk = new Conversation({ tag: 'scale', parties: world.parties, perParty: 500, rate: 70 })
  talk.start()
  await talk.sentAtLeast(350)
  const faultAt = performance.now()
  await first.kill('SIGKILL')
  const owners = await waitFor(
    'the survivors to own both connections, online, and agree on it',
    async () => {
      const agreed = await agreedOwners(survivors)
      if (!agreed) return undefined
      const views = await Promise.all(survivors.map(leases))
      const online = views.every((v) =>
        ['xmpp', 'sip'].every((n) => v.find((x) => x.name === n)?.status === 'online'),
      )
      const taken = Object.values(agreed).every((o) => survivors.some((h) => h.instanceId === o))
      return online && taken ? agreed : undefined
    },
    30_000,
  )
  const takeoverMs = Math.round(performance.now() - faultAt)
  await talk.finish(60_000)
  reportScenario(
    t,
    {
      scenario: 'kill -9 of the owner (3 processes)',
      network: 'xmpp+sip',
      recoverMs: talk.recoveryMs(faultAt),
      note: `connections taken over in ${takeoverMs} ms (xmpp by ${owners.xmpp}, sip by ${owners.sip})`,
    },
    talk.tally(world.ledger),
  )
})

t.test('the owner paused (SIGSTOP) past its lease, then resumed: fenced off', async (t) => {
  const world = await faultWorld(t, {
    processes: 2,
    xmppUsers: 1,
    sip: { addresses: ['127.0.0.59', '127.0.0.60', '127.0.0.61'] },
  })
  const [first, second] = world.hosts as [HostProcess, HostProcess]
  const talk = new Conversation({ tag: 'pause', parties: world.parties, perParty: 500, rate: 70 })
  talk.start()
  await talk.sentAtLeast(350)
  const faultAt = performance.now()
  await first.kill('SIGSTOP')
  // The lease lapses and the second process takes both networks. It connects
  // XMPP (Prosody ends the paused session: same resource); the SIP address is
  // still held by the paused process, so the edge retries it meanwhile.
  await waitFor(
    'the second process to own both networks and carry XMPP',
    async () => {
      const views = await leases(second)
      const mine = ['xmpp', 'sip'].every((n) => views.find((v) => v.name === n)?.lease?.mine)
      return mine && views.find((v) => v.name === 'xmpp')?.status === 'online'
    },
    30_000,
  )
  const pausedMs = Math.round(performance.now() - faultAt)
  await first.kill('SIGCONT')
  // Resumed, the first finds its lease gone by its own clock: it sends
  // nothing more, lets go of its connections, and stands by.
  const owners = await waitFor(
    'both processes to agree on the second as owner, both networks online',
    async () => {
      const agreed = await agreedOwners([first, second])
      if (agreed?.xmpp !== second.instanceId || agreed.sip !== second.instanceId) return undefined
      const views = await leases(second)
      return ['xmpp', 'sip'].every((n) => views.find((v) => v.name === n)?.status === 'online')
        ? agreed
        : undefined
    },
    30_000,
  )
  const lost = first.logs.some((l) =>
    String(l.entry?.msg ?? '').startsWith('connection handed over'),
  )
  t.ok(lost, 'the resumed process logged that it handed its connections over')
  await talk.finish(60_000)
  reportScenario(
    t,
    {
      scenario: 'owner paused past its lease (2 processes)',
      network: 'xmpp+sip',
      recoverMs: talk.recoveryMs(faultAt),
      note: `paused ${pausedMs} ms until the other process owned both; then resumed, fenced off (owner now ${owners.xmpp})`,
    },
    talk.tally(world.ledger),
  )
})
