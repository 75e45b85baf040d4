/**
 * bench/presence ingest baseline: a plain @xmpp/client session (no queue, no
 * store) that counts the presence stanzas it receives from the benchmark's
 * users. Driven over IPC by run.ts:
 *   parent -> { type: 'start', finals }   finals: bare JID -> last status text
 *   child  -> { type: 'started' }         counting from now on
 *   child  -> { type: 'complete', ... }   every user's final status arrived
 *   parent -> { type: 'report' }          (on timeout) child -> { type: 'report', ... }
 * Prints `ready` once online. Times are epoch ms (performance.timeOrigin based).
 */
import type { Element } from '@xmpp/client'
import { connectRawUser } from '../../test/peers/raw-xmpp.js'

export interface ObserverReport {
  count: number
  firstAt: number | null
  lastAt: number | null
  completeAt: number | null
  missing: number
  /** Arrival time of every counted stanza. */
  times: number[]
}

type FromParent = { type: 'start'; finals: Record<string, string> } | { type: 'report' }

const now = () => performance.timeOrigin + performance.now()
const env = process.env
const user = await connectRawUser(
  { service: env.XMPP_SERVICE ?? '', domain: env.XMPP_DOMAIN ?? '' },
  env.XMPP_USERNAME ?? 'raw',
  env.XMPP_PASSWORD ?? 'pw',
  { resource: 'observer' },
)

let finals: Map<string, string> | undefined
let missing = new Set<string>()
let count = 0
let firstAt: number | null = null
let lastAt: number | null = null
let completeAt: number | null = null
let times: number[] = []

const report = (): ObserverReport => ({
  count,
  firstAt,
  lastAt,
  completeAt,
  missing: missing.size,
  times,
})

user.client.on('stanza', (stanza: Element) => {
  if (!finals || stanza.name !== 'presence') return
  const type = stanza.attrs.type
  if (type !== undefined && type !== 'unavailable') return
  const bare = String(stanza.attrs.from ?? '').split('/')[0] as string
  if (!finals.has(bare)) return
  const at = now()
  count++
  times.push(at)
  firstAt ??= at
  lastAt = at
  if (missing.has(bare) && stanza.getChildText('status') === finals.get(bare)) {
    missing.delete(bare)
    if (missing.size === 0) {
      completeAt = at
      process.send?.({ type: 'complete', ...report() })
    }
  }
})

process.on('message', (message: FromParent) => {
  if (message.type === 'start') {
    finals = new Map(Object.entries(message.finals))
    missing = new Set(finals.keys())
    count = 0
    times = []
    firstAt = lastAt = completeAt = null
    process.send?.({ type: 'started' })
  } else if (message.type === 'report') {
    process.send?.({ type: 'report', ...report() })
  }
})
process.on('disconnect', () => void user.stop().finally(() => process.exit(0)))
process.on('SIGTERM', () => void user.stop().finally(() => process.exit(0)))
console.log('ready')
