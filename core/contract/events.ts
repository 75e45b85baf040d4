import type { AddressString } from './address.js'
import type { Availability } from './presence.js'

/** Fields every inbound event carries. */
export interface InboundBase {
  /** Sender, `network:id` (bare id: no XMPP resource). */
  from: AddressString
  /** Recipient: one of the plugin's own identities, `network:id`. */
  to: AddressString
  /**
   * The network's own id for this event (XMPP stanza id, SIP Call-ID/CSeq).
   * Together with `from` it de-duplicates redeliveries: the same pair is
   * processed once. Plugins synthesise a unique one when the wire has none.
   */
  remoteId: string
  /** When the network says it happened (delayed delivery), else when it was received. */
  at?: string
}

export interface InboundMessage extends InboundBase {
  type: 'message'
  text: string
  /** The network's thread/conversation id, when it has one. */
  thread?: string
}

export interface InboundPresence extends InboundBase {
  type: 'presence'
  availability: Availability
  status?: string
  /** The wire value the availability was mapped from, e.g. `xa` or `unavailable`. */
  raw?: string
}

export type SubscriptionAction = 'request' | 'approved' | 'refused' | 'removed'

export interface InboundSubscription extends InboundBase {
  type: 'subscription'
  action: SubscriptionAction
}

export type TypingState = 'active' | 'composing' | 'paused' | 'inactive' | 'gone'

export interface InboundTyping extends InboundBase {
  type: 'typing'
  state: TypingState
}

export interface InboundReceipt extends InboundBase {
  type: 'receipt'
  /** The remote id of the message this receipt is about (as `send()` returned it). */
  receiptFor: string
  status: 'delivered' | 'displayed'
}

/**
 * An audio/video call offer (e.g. a Windows Live INVITE). Parley carries no
 * media: the plugin has already answered it (`answered`, a SIP status such
 * as 488); the bot is told, as an `event` activity named `call.offer`.
 */
export interface InboundCall extends InboundBase {
  type: 'call'
  action: 'offer'
  /** Media offered, e.g. `audio`, `video`. */
  media: string[]
  /** The status the network was answered with. */
  answered: number
}

/** Everything a plugin hands to the host through `ctx.emit`. */
export type InboundEvent =
  | InboundMessage
  | InboundPresence
  | InboundSubscription
  | InboundTyping
  | InboundReceipt
  | InboundCall

export const INBOUND_TYPES = [
  'message',
  'presence',
  'subscription',
  'typing',
  'receipt',
  'call',
] as const

/** What the outbound worker asks a plugin to send. */
export interface OutboundMessage {
  /** Parley's own message id (MessageRecord id); stable across retries. */
  id: string
  /** The sending identity, `network:id`. */
  from: AddressString
  /** The recipient, `network:id`. */
  to: AddressString
  text: string
  /** Remote id of the message this one answers, when it is a reply. */
  replyTo?: string
  thread?: string
}

export interface SendResult {
  /** The id the network knows the message by (used to match receipts). */
  remoteId: string
}
