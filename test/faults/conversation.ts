/**
 * A steady conversation between federated users and a bot, counted by
 * message id, for the fault-injection scenarios.
 *
 * Each user sends numbered messages (`<tag>-<user>-<n>`, the text is the id)
 * at a steady rate; the bot (test/helpers/bots/ledger) writes every turn it
 * gets to its ledger file and answers `echo: <id>`. A user behaves as a real
 * client does: a message refused with an error (an XMPP bounce, a SIP
 * error response) or never acknowledged by its own server (XEP-0198, a SIP
 * request without an answer) is sent again, under the same id, until it is
 * taken. So every message must end with exactly one answer, and the host
 * must see each id's turn once:
 *
 * - lost: a message id with no answer at the end;
 * - duplicated to users: a further answer to an id under a *different*
 *   network id (another stanza id, another Call-ID): the host sent it twice;
 * - redelivered: a further answer under the *same* network id (a server's
 *   XEP-0198 replay after its restart); a client recognises it by id. Counted
 *   apart, not hidden;
 * - duplicated to the bot: a further line for an id in the bot's ledger;
 * - refused: error answers the senders got (each one was then sent again).
 */
import { readFileSync } from 'node:fs'
import type { XmppUser } from '../helpers/xmpp-user.js'
import type { SipUser } from '../peers/sip-user.js'

export type Outcome = 'accepted' | 'refused' | 'unanswered'

export interface Reply {
  /** The message id it answers. */
  id: string
  /** The network's own id of the reply (stanza id, Call-ID). */
  networkId: string
  at: number
}

/** One federated user in the conversation. */
export interface Party {
  readonly name: string
  readonly network: 'xmpp' | 'sip'
  /** Sends one message (again, with the same id, after a refusal). */
  send(id: string): Promise<Outcome>
  /** Answers from the bot so far. */
  replies(): Reply[]
  /** Ids the network refused, or never took, since the last call (they are sent again). */
  takeLate(): Array<{ id: string; outcome: Outcome }>
}

const ECHO = /^echo: (\S+)$/

/** An XMPP user of Prosody talking to `bot` (a bare JID). */
export function xmppParty(name: string, user: XmppUser, bot: string): Party {
  let bounces = 0
  let unacked = 0
  return {
    name,
    network: 'xmpp',
    async send(id) {
      try {
        // A message written while the stream is down never reaches the server.
        await user.waitOnline(0)
        await user.send(bot, id, id)
        return 'accepted'
      } catch {
        return 'unanswered'
      }
    },
    replies() {
      const out: Reply[] = []
      for (const m of user.messages) {
        const id = ECHO.exec(m.body)?.[1]
        if (id) out.push({ id, networkId: m.id ?? '', at: m.at })
      }
      return out
    },
    takeLate() {
      const late: Array<{ id: string; outcome: Outcome }> = []
      for (const b of user.bounces.slice(bounces)) {
        if (b.id) late.push({ id: b.id, outcome: 'refused' })
      }
      bounces = user.bounces.length
      for (const id of user.unacked.slice(unacked)) late.push({ id, outcome: 'unanswered' })
      unacked = user.unacked.length
      return late
    },
  }
}

/** A SIP user of Kamailio talking to `bot` (a SIP URI); a re-send keeps the Call-ID. */
export function sipParty(name: string, user: SipUser, bot: string): Party {
  return {
    name,
    network: 'sip',
    async send(id) {
      try {
        const status = await user.message(bot, id, { callId: `${id}@faults.test` })
        if (status >= 200 && status < 300) return 'accepted'
        // 408 is the user's own timeout: nobody answered.
        return status === 408 ? 'unanswered' : 'refused'
      } catch {
        return 'unanswered'
      }
    },
    replies() {
      const out: Reply[] = []
      for (const rq of user.received) {
        if (rq.method !== 'MESSAGE') continue
        const id = ECHO.exec(rq.body)?.[1]
        if (id) out.push({ id, networkId: rq.callId, at: rq.receivedAt - performance.timeOrigin })
      }
      return out
    },
    takeLate: () => [],
  }
}

export interface ConversationOptions {
  /** Names the ids (unique per run). */
  tag: string
  parties: Party[]
  /** Messages each party sends. */
  perParty: number
  /** Messages per second, all parties together. */
  rate: number
  /** Wait before sending a refused or unanswered message again. @defaultValue 500 */
  resendMs?: number
}

interface Tracked {
  id: string
  party: Party
  firstSentAt: number
  accepted: boolean
  inFlight: boolean
  refused: number
  unanswered: number
  resendAt?: number
}

export interface Tally {
  sent: number
  delivered: number
  lost: number
  /** Error answers to senders (each message was sent again). */
  refused: number
  /** Sends nobody answered (link down, timeout), sent again. */
  unanswered: number
  duplicatedToUsers: number
  duplicatedToBot: number
  /** Answers repeated under the same network id (server replay). */
  redelivered: number
  /** Ids the bot never saw but the users got an answer for (should be 0). */
  answeredUnseen: number
  lostIds: string[]
  duplicateIds: string[]
}

/** Runs the sending side; `finish()` waits for the answers and `tally()` counts. */
export class Conversation {
  readonly messages: Tracked[] = []
  private readonly options: ConversationOptions
  private sending: Promise<void> | undefined
  private stopped = false

  constructor(options: ConversationOptions) {
    this.options = options
  }

  /** Sent (first time) so far. */
  get sentCount(): number {
    return this.messages.length
  }

  get total(): number {
    return this.options.perParty * this.options.parties.length
  }

  start(): void {
    this.sending ??= this.run()
  }

  private async run(): Promise<void> {
    const { parties, rate, tag } = this.options
    const interval = 1000 / rate
    const began = performance.now()
    let n = 0
    while (!this.stopped) {
      const now = performance.now()
      // Steady: message k goes at began + k * interval, however long sends take.
      while (n < this.total && began + n * interval <= now) {
        const party = parties[n % parties.length] as Party
        const id = `${tag}-${party.name}-${Math.floor(n / parties.length)}`
        const tracked: Tracked = {
          id,
          party,
          firstSentAt: now,
          accepted: false,
          inFlight: false,
          refused: 0,
          unanswered: 0,
        }
        this.messages.push(tracked)
        this.dispatch(tracked)
        n++
      }
      this.collectLate()
      for (const m of this.messages) {
        if (m.resendAt !== undefined && m.resendAt <= now && !m.inFlight) {
          m.resendAt = undefined
          this.dispatch(m)
        }
      }
      if (n >= this.total && this.pending() === 0) return
      await new Promise((resolve) => setTimeout(resolve, Math.min(interval, 20)))
    }
  }

  private pending(): number {
    return this.messages.filter((m) => m.inFlight || m.resendAt !== undefined).length
  }

  private dispatch(m: Tracked): void {
    m.inFlight = true
    void m.party.send(m.id).then((outcome) => {
      m.inFlight = false
      this.settle(m, outcome)
    })
  }

  private settle(m: Tracked, outcome: Outcome): void {
    if (outcome === 'accepted') {
      m.accepted = true
      return
    }
    if (outcome === 'refused') m.refused++
    else m.unanswered++
    m.accepted = false
    m.resendAt = performance.now() + (this.options.resendMs ?? 500)
  }

  private collectLate(): void {
    const late = this.options.parties.flatMap((party) => party.takeLate())
    if (late.length === 0) return
    const byId = new Map(this.messages.map((m) => [m.id, m]))
    const answered = this.answered()
    for (const { id, outcome } of late) {
      const m = byId.get(id)
      // A late refusal of a message already answered changes nothing.
      if (!m || answered.has(id)) continue
      this.settle(m, outcome)
    }
  }

  private answered(): Set<string> {
    const ids = new Set<string>()
    for (const party of this.options.parties) for (const r of party.replies()) ids.add(r.id)
    return ids
  }

  /** Resolves once `count` messages were sent (a first time). */
  async sentAtLeast(count: number): Promise<void> {
    while (this.sentCount < count) await new Promise((resolve) => setTimeout(resolve, 10))
  }

  /**
   * Waits until every message was sent and answered (or `timeoutMs`), then
   * `settleMs` more for late duplicates; stops sending.
   */
  async finish(timeoutMs: number, settleMs = 1500): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (this.sentCount === this.total && this.answered().size === this.total) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    await new Promise((resolve) => setTimeout(resolve, settleMs))
    this.collectLate()
    this.stopped = true
    await this.sending
  }

  /**
   * Time from `since` (performance.now()) until the first answer to a
   * message first sent at or after it: how long the path took to carry new
   * traffic again.
   */
  recoveryMs(since: number): number | undefined {
    const sentAfter = new Map(
      this.messages.filter((m) => m.firstSentAt >= since).map((m) => [m.id, m.firstSentAt]),
    )
    let first: number | undefined
    for (const party of this.options.parties) {
      for (const r of party.replies()) {
        if (sentAfter.has(r.id) && (first === undefined || r.at < first)) first = r.at
      }
    }
    return first === undefined ? undefined : Math.round(first - since)
  }

  /** Counts by id; `ledgerFile` is the bot's (one line per turn it got). */
  tally(ledgerFile: string): Tally {
    const turns = new Map<string, number>()
    let text = ''
    try {
      text = readFileSync(ledgerFile, 'utf8')
    } catch {}
    const ours = new Set(this.messages.map((m) => m.id))
    for (const line of text.split('\n')) {
      if (ours.has(line)) turns.set(line, (turns.get(line) ?? 0) + 1)
    }
    const networkIds = new Map<string, Map<string, number>>()
    for (const party of this.options.parties) {
      for (const r of party.replies()) {
        if (!ours.has(r.id)) continue
        const copies = networkIds.get(r.id) ?? new Map<string, number>()
        copies.set(r.networkId, (copies.get(r.networkId) ?? 0) + 1)
        networkIds.set(r.id, copies)
      }
    }
    let duplicatedToUsers = 0
    let redelivered = 0
    const duplicateIds: string[] = []
    for (const [id, copies] of networkIds) {
      duplicatedToUsers += copies.size - 1
      for (const count of copies.values()) redelivered += count - 1
      if (copies.size > 1) duplicateIds.push(id)
    }
    let duplicatedToBot = 0
    for (const [id, count] of turns) {
      duplicatedToBot += count - 1
      if (count > 1 && !duplicateIds.includes(id)) duplicateIds.push(id)
    }
    const lostIds = this.messages.filter((m) => !networkIds.has(m.id)).map((m) => m.id)
    return {
      sent: this.messages.length,
      delivered: networkIds.size,
      lost: lostIds.length + (this.total - this.messages.length),
      refused: this.messages.reduce((sum, m) => sum + m.refused, 0),
      unanswered: this.messages.reduce((sum, m) => sum + m.unanswered, 0),
      duplicatedToUsers,
      duplicatedToBot,
      redelivered,
      answeredUnseen: [...networkIds.keys()].filter((id) => !turns.has(id)).length,
      lostIds,
      duplicateIds,
    }
  }
}
