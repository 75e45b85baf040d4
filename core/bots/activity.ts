import { type Activity, ActivityTypes } from 'botbuilder'
import type { InboundMessage } from '../contract/index.js'

/** Bot Framework channels need a serviceUrl; Parley's is a name, not an endpoint. */
export const SERVICE_URL = 'urn:parley:host'

/** A stable conversation id per (identity, federated user) pair. */
export function conversationId(identity: string, user: string): string {
  return `${identity}|${user}`
}

/** network -> bot: an inbound message as a botbuilder `message` Activity. */
export function messageToActivity(
  network: string,
  event: InboundMessage,
  recordId: string,
  botName: string,
): Partial<Activity> {
  return {
    type: ActivityTypes.Message,
    id: recordId,
    timestamp: new Date(event.at ?? Date.now()),
    channelId: network,
    serviceUrl: SERVICE_URL,
    from: { id: event.from, name: event.from, role: 'user' },
    recipient: { id: event.to, name: botName, role: 'bot' },
    conversation: {
      id: conversationId(event.to, event.from),
      isGroup: false,
      conversationType: 'personal',
      name: '',
    },
    text: event.text,
    textFormat: 'plain',
    channelData: { remoteId: event.remoteId, thread: event.thread },
  }
}

/** bot -> network: the parts of an outgoing `message` Activity Parley sends. */
export function activityToOutbound(
  activity: Partial<Activity>,
  fallback: { from: string; to: string },
) {
  return {
    from: activity.from?.id ?? fallback.from,
    to: activity.recipient?.id ?? fallback.to,
    text: activity.text ?? '',
    replyTo: activity.replyToId,
  }
}

interface EventActivityInput {
  network: string
  /** The Parley identity (the bot's side). */
  identity: string
  /** The federated user the activity is about. */
  address: string
  botName: string
  id: string
}

/** Fields every activity about a (identity, federated user) pair shares. */
function pairActivity(input: EventActivityInput): Partial<Activity> {
  return {
    id: input.id,
    timestamp: new Date(),
    channelId: input.network,
    serviceUrl: SERVICE_URL,
    from: { id: input.address, name: input.address, role: 'user' },
    recipient: { id: input.identity, name: input.botName, role: 'bot' },
    conversation: {
      id: conversationId(input.identity, input.address),
      isGroup: false,
      conversationType: 'personal',
      name: '',
    },
  }
}

/** A contact request (`add`) or its withdrawal (`remove`), as the Bot Framework names it. */
export function contactRelationActivity(
  input: EventActivityInput & {
    action: 'add' | 'remove'
    contactId?: string
    subscription?: string
  },
): Partial<Activity> {
  return {
    ...pairActivity(input),
    type: ActivityTypes.ContactRelationUpdate,
    action: input.action,
    channelData: { contactId: input.contactId, subscription: input.subscription },
  }
}

/** A watched contact's presence changed: an `event` named `presence` with the model as value. */
export function presenceActivity(
  input: EventActivityInput & { value: unknown },
): Partial<Activity> {
  return {
    ...pairActivity(input),
    type: ActivityTypes.Event,
    name: 'presence',
    value: input.value,
  }
}

/** An audio/video call offer the network was already answered for: an `event` named `call.offer`. */
export function callOfferActivity(
  input: EventActivityInput & { media: string[]; answered: number },
): Partial<Activity> {
  return {
    ...pairActivity(input),
    type: ActivityTypes.Event,
    name: 'call.offer',
    value: { media: input.media, answered: input.answered },
  }
}
