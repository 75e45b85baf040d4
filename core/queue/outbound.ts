import type { FastifyBaseLogger } from 'fastify'
import { type OutboundMessage, parleyError, parseAddress } from '../contract/index.js'
import type { Store } from '../store/store.js'
import { Sequencer } from './keyed-serial.js'
import { outboundJobId } from './names.js'
import { type Outbox, UNQUEUED } from './outbox.js'
import type { Queues } from './queues.js'

export interface OutboundRequest extends OutboundMessage {
  bot?: string
  /** Set for bot replies: the same reply replayed is the same record. */
  dedupKey?: string
}

/** The policy's say on an outbound message: resolves to let it go, throws PARLEY_ERR_POLICY_DENIED. */
export type OutboundAdmit = (message: {
  network: string
  from: string
  to: string
}) => Promise<void>

/**
 * Records an outbound message as `queued` and adds it to `outbound-<network>`
 * with a job id derived from the message id: calling it twice with the same
 * id queues one message. If the queue refuses, the record is marked failed
 * and the caller gets PARLEY_ERR_QUEUE_UNAVAILABLE: nothing is silently lost.
 * A bot reply stays queued instead, kept in the outbox (outbox.ts) until
 * Redis takes it.
 *
 * The federation policy (`admit`) is asked first. A refused REST message is
 * answered PARLEY_ERR_POLICY_DENIED (403) and not recorded; a refused bot
 * reply is recorded `failed` with the refusal as its error (visible at
 * GET /v1/messages/:id), since retrying the bot's turn could not change it.
 */
export function createOutboundSink(
  store: Store,
  queues: Queues,
  log: FastifyBaseLogger,
  admit?: OutboundAdmit,
  outbox?: Pick<Outbox, 'wake'>,
) {
  const sequencer = new Sequencer()
  return async function enqueue(request: OutboundRequest) {
    const network = parseAddress(request.to).network
    const { bot, dedupKey, ...message } = request
    // Taken before any await: the call order is the recipient's order.
    const order = sequencer.next(message.to)
    let refusal: Error | undefined
    try {
      await admit?.({ network, from: message.from, to: message.to })
    } catch (error) {
      if (bot === undefined) throw error
      refusal = error as Error
    }
    const { record, created } = await store.messages.createOutbound({
      id: message.id,
      network,
      from: message.from,
      to: message.to,
      text: message.text,
      replyTo: message.replyTo,
      bot,
      dedupKey,
    })
    if (refusal) {
      if (created) {
        const code = (refusal as { code?: string }).code ?? 'PARLEY_ERR_POLICY_DENIED'
        await store.messages.markFailed(record.id, {
          error: `${code}: ${refusal.message}`,
          attempts: 0,
        })
      }
      return (await store.messages.get(record.id)) ?? record
    }
    if (!created && record.status !== 'queued') return record
    try {
      await queues.outboundFor(network).add(
        'message',
        { network, message: { ...message, id: record.id }, order },
        {
          jobId: outboundJobId(record.id),
        },
      )
    } catch (error) {
      const reason = `${UNQUEUED}: ${(error as Error).message}`
      if (dedupKey === undefined) {
        // A REST message is failed: its client is told (503) and may send it again.
        await store.messages
          .markFailed(record.id, { error: reason, attempts: 0 })
          .catch((err: unknown) => {
            log.error({ err, id: record.id }, 'could not mark an unqueued message failed')
          })
        throw parleyError('PARLEY_ERR_QUEUE_UNAVAILABLE', (error as Error).message)
      }
      // A bot reply is kept in the outbox (its record, queued, with this
      // error): the outbox queues it once Redis is back, and the turn that
      // produced it is done (run again, the bot would see its message twice).
      // Only if even that cannot be written does the turn fail (and run again).
      await store.messages.markAttempt(record.id, { error: reason, attempts: 0 })
      outbox?.wake()
      log.warn({ id: record.id, err: (error as Error).message }, 'reply kept in the outbox')
      return (await store.messages.get(record.id)) ?? record
    }
    return record
  }
}

export type OutboundSink = ReturnType<typeof createOutboundSink>
