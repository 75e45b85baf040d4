import { createHash } from 'node:crypto'

/** BullMQ forbids ':' in queue names and custom job ids, so Parley uses '-'. */
export const INBOUND_QUEUE = 'inbound'

export function outboundQueueName(network: string): string {
  return `outbound-${network}`
}

function digest(...parts: string[]): string {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part).update('\u0000')
  return hash.digest('hex')
}

/**
 * The de-duplication key of an inbound event: the same network, sender,
 * recipient and network id always give the same key, so a redelivered
 * stanza becomes the same BullMQ job and the same message record.
 */
export function inboundKey(
  network: string,
  type: string,
  from: string,
  to: string,
  remoteId: string,
): string {
  return `in-${digest(network, type, from, to, remoteId).slice(0, 40)}`
}

/** An id shaped like a UUID, derived from its inputs (stable across retries and restarts). */
export function derivedId(...parts: string[]): string {
  const h = digest(...parts)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}

export function outboundJobId(messageId: string): string {
  return `out-${messageId}`
}
