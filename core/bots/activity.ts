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
