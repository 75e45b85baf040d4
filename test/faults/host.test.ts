import { readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Job, Queue } from 'bullmq'
import { Redis } from 'ioredis'
import t from 'tap'
import { waitFor } from '../helpers/app.js'
import type { HostProcess } from '../helpers/host-process.js'
import type { SipUser } from '../peers/sip-user.js'
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

t.test(
  'a bot that throws or hangs: its turn times out, the message is kept failed and retryable, the other bot is unaffected',
  async (t) => {
    const faultyLedger = join(tmpdir(), `parley-faulty-${process.pid}-${Date.now()}.txt`)
    t.teardown(() => rmSync(faultyLedger, { force: true }))
    const world = await faultWorld(t, {
      sip: { addresses: ['127.0.0.50', '127.0.0.51', '127.0.0.52'] },
      extraSipIdentities: ['faulty'],
      extraBots: [
        {
          name: 'faulty',
          module: './test/helpers/bots/ledger/index.ts',
          identities: [`sip:${FAULTY}`],
          options: { file: faultyLedger },
        },
      ],
      queues: { botTurnTimeoutMs: 1000, attempts: 3 },
    })
    const user = world.sipUsers[0] as SipUser
    const talk = new Conversation({ tag: 'bot', parties: world.parties, perParty: 1000, rate: 70 })
    talk.start()
    await talk.sentAtLeast(200)
    // The failing turns run alongside the steady conversation.
    const faultAt = performance.now()
    const failing = ['throw', 'hang'].flatMap((kind) =>
      Array.from({ length: 5 }, (_, i) => `${kind} ${i}`),
    )
    const statuses = await Promise.all(failing.map((text) => user.message(FAULTY, text)))
    t.same(
      statuses,
      failing.map(() => 200),
      'the failing messages were taken (queued)',
    )

    // Kept failed: the message records say so, with the reason, after every attempt.
    const failed = await waitForFailed(world.host, failing.length)
    t.same(
      failed.map((r) => r.text).sort(),
      [...failing].sort(),
      'each failing message is recorded failed',
    )
    for (const r of failed) {
      const expected = r.text.startsWith('hang') ? /PARLEY_ERR_BOT_TIMEOUT|timed out|1000/ : /throw/
      t.match(r.error, expected, `${r.text}: ${r.error}`)
    }
    const detectedMs = Math.round(performance.now() - faultAt)
    await talk.finish(60_000)
    // Retryable: the jobs are kept in BullMQ's failed set; retrying runs the turn again.
    const connection = new Redis(world.redisUrl, { maxRetriesPerRequest: null })
    const queue = new Queue('inbound', { connection, prefix: world.prefix })
    t.teardown(async () => {
      await queue.close()
      connection.disconnect()
    })
    const textOf = (job: Job) => String((job.data as { event?: { text?: string } }).event?.text)
    // Failed for good once its attempts (3) are used up.
    const jobs = await waitFor(
      'the failing jobs in the failed set',
      async () => {
        const kept = (await queue.getFailed()).filter((j) => failing.includes(textOf(j)))
        return kept.length >= failing.length ? kept : undefined
      },
      30_000,
    )
    t.equal(jobs.length, failing.length, 'the failed jobs are kept')
    const before = turnsIn(faultyLedger)
    await Promise.all(jobs.map((j) => j.retry()))
    await waitFor(
      'the retried turns ran',
      () => turnsIn(faultyLedger) >= before + failing.length,
      30_000,
    )
    t.pass('a retried job runs the turn again')

    reportScenario(
      t,
      {
        scenario: 'bot throws / hangs',
        network: 'sip',
        recoverMs: null,
        note: `10 failing turns recorded failed within ${detectedMs} ms`,
      },
      talk.tally(world.ledger),
    )
  },
)

const FAULTY = 'sip:faulty@parley.test'

function turnsIn(file: string): number {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).length
  } catch {
    return 0
  }
}

interface MessageView {
  text: string
  status: string
  error: string
  to: string
}

async function waitForFailed(host: HostProcess, count: number): Promise<MessageView[]> {
  return waitFor(
    `${count} failed inbound messages`,
    async () => {
      const res = await host.fetch('/v1/messages?status=failed&direction=in&limit=100')
      const { messages } = (await res.json()) as { messages: MessageView[] }
      const toFaulty = messages.filter((m) => m.to === `sip:${FAULTY}`)
      return toFaulty.length >= count ? toFaulty : undefined
    },
    30_000,
  )
}
