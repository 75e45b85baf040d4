import { Type } from 'typebox'
import { Compile } from 'typebox/compile'
import { describeError } from '../config/load-config.js'
import { type InboundEvent, parleyError, parseAddress } from '../contract/index.js'

const Address = Type.String({ minLength: 3, maxLength: 1024 })
const Base = {
  from: Address,
  to: Address,
  remoteId: Type.String({ minLength: 1, maxLength: 512 }),
  at: Type.Optional(Type.String({ maxLength: 64 })),
}

/** The shape every inbound event must have before the host queues it. */
export const InboundEventSchema = Type.Union([
  Type.Object({
    ...Base,
    type: Type.Literal('message'),
    text: Type.String({ maxLength: 65536 }),
    thread: Type.Optional(Type.String({ maxLength: 512 })),
  }),
  Type.Object({
    ...Base,
    type: Type.Literal('presence'),
    availability: Type.Union(
      ['available', 'away', 'busy', 'dnd', 'offline', 'unknown'].map((a) => Type.Literal(a)),
    ),
    status: Type.Optional(Type.String({ maxLength: 4096 })),
    raw: Type.Optional(Type.String({ maxLength: 256 })),
  }),
  Type.Object({
    ...Base,
    type: Type.Literal('subscription'),
    action: Type.Union(['request', 'approved', 'refused', 'removed'].map((a) => Type.Literal(a))),
  }),
  Type.Object({
    ...Base,
    type: Type.Literal('typing'),
    state: Type.Union(
      ['active', 'composing', 'paused', 'inactive', 'gone'].map((a) => Type.Literal(a)),
    ),
  }),
  Type.Object({
    ...Base,
    type: Type.Literal('receipt'),
    receiptFor: Type.String({ minLength: 1, maxLength: 512 }),
    status: Type.Union([Type.Literal('delivered'), Type.Literal('displayed')]),
  }),
  Type.Object({
    ...Base,
    type: Type.Literal('call'),
    action: Type.Literal('offer'),
    media: Type.Array(Type.String({ minLength: 1, maxLength: 32 }), { maxItems: 16 }),
    answered: Type.Integer({ minimum: 100, maximum: 699 }),
  }),
])

/** Compiled once: every inbound event is checked against it on the hot path. */
const inboundEventCheck = Compile(InboundEventSchema)

/**
 * Checks what a plugin emitted: shape, sizes, and that both addresses
 * belong to the emitting network. Throws PARLEY_ERR_WIRE_INVALID.
 */
export function checkInboundEvent(network: string, event: unknown): InboundEvent {
  if (!inboundEventCheck.Check(event)) {
    const type = (event as { type?: unknown } | null)?.type
    const first = inboundEventCheck.Errors(event)[0]
    const why = first ? describeError(first, 'event') : 'not an inbound event'
    throw parleyError('PARLEY_ERR_WIRE_INVALID', network, `${String(type)}: ${why}`)
  }
  const checked = event as InboundEvent
  for (const field of ['from', 'to'] as const) {
    let parsed: ReturnType<typeof parseAddress>
    try {
      parsed = parseAddress(checked[field])
    } catch (error) {
      throw parleyError(
        'PARLEY_ERR_WIRE_INVALID',
        network,
        `event.${field}: ${(error as Error).message}`,
      )
    }
    if (parsed.network !== network) {
      throw parleyError(
        'PARLEY_ERR_WIRE_INVALID',
        network,
        `event.${field} is on network '${parsed.network}'`,
      )
    }
  }
  return checked
}
