import type { FastifyBaseLogger } from 'fastify'
import { type InboundEvent, type InboundPresence, PluginError } from '../contract/index.js'
import { checkInboundEvent } from './inbound-schema.js'
import { Sequencer } from './keyed-serial.js'
import { inboundKey } from './names.js'
import type { Queues } from './queues.js'

/**
 * The host end of `ctx.emit`: validates an event, asks the federation
 * policy (`admit`, core/policy/gate.ts), and queues it durably with a job id
 * derived from the network's own id, so a redelivery is the same job.
 * Presence, which is state rather than a message, goes to `presence`.
 * Rejects with a PluginError the plugin can act on (refuse the stanza):
 * nothing refused is queued, stored or shown to a bot.
 */
export function createInboundSink(
  queues: Queues,
  log: FastifyBaseLogger,
  options: {
    /** Where presence goes instead (coalesced per address, see core/presence). */
    presence?: (network: string, event: InboundPresence) => Promise<void>
    /** The policy gate: resolves to let the event in, rejects with a PluginError to refuse it. */
    admit?: (network: string, event: InboundEvent) => Promise<void>
  } = {},
) {
  const { presence, admit } = options
  const sequencer = new Sequencer()
  return async function accept(network: string, raw: InboundEvent): Promise<void> {
    let event: InboundEvent
    try {
      event = checkInboundEvent(network, raw)
    } catch (error) {
      log.warn(
        { network, code: 'PARLEY_ERR_WIRE_INVALID', err: error },
        'plugin emitted an invalid event; dropped',
      )
      throw new PluginError('PARLEY_ERR_WIRE_INVALID', (error as Error).message, {
        retryable: false,
        cause: error,
      })
    }
    if (admit) await admit(network, event)
    if (event.type === 'presence' && presence) return presence(network, event)
    const jobId = inboundKey(network, event.type, event.from, event.to, event.remoteId)
    try {
      await queues.inbound.add(
        event.type,
        {
          network,
          event,
          acceptedAt: new Date().toISOString(),
          order: sequencer.next(`${event.to}|${event.from}`, jobId),
        },
        { jobId },
      )
    } catch (error) {
      log.error(
        { network, code: 'PARLEY_ERR_QUEUE_UNAVAILABLE', err: error },
        'could not queue an inbound event',
      )
      throw new PluginError(
        'PARLEY_ERR_QUEUE_UNAVAILABLE',
        `inbound queue unavailable: ${(error as Error).message}`,
        {
          retryable: true,
          cause: error,
        },
      )
    }
  }
}
