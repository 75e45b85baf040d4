/**
 * The dialog state Parley keeps itself (the `sip` package has transactions
 * only): Call-ID, tags, CSeq, remote target and route set of each
 * subscription, in both directions (RFC 3261 §12, RFC 6665).
 */
import type { NameAddr, SipRequest, SipResponse } from './stack.js'

export interface Dialog {
  callId: string
  localTag: string
  remoteTag: string | undefined
  /** Our identity's URI and the remote party's URI (no params). */
  localUri: string
  remoteUri: string
  /** Where in-dialog requests go: the remote Contact. */
  remoteTarget: string
  /** Route set, in the order it is put on requests. */
  routeSet: NameAddr[]
  /** Our next CSeq. */
  cseq: number
  /** The transport the dialog's requests use (the peer's, or the one the remote came in on). */
  transport: 'udp' | 'tcp' | 'tls'
}

/** A SUBSCRIBE Parley sent (we watch them). */
export interface OutSubscription extends Dialog {
  kind: 'out'
  identity: string
  expires: number
  refresh?: NodeJS.Timeout
  /** Whether an `active` NOTIFY has been seen (the watch is approved). */
  active: boolean
}

/** A SUBSCRIBE Parley received (they watch one of our identities). */
export interface InSubscription extends Dialog {
  kind: 'in'
  identity: string
  expiresAt: number
  state: 'pending' | 'active'
}

function firstContact(message: SipRequest | SipResponse): string | undefined {
  const contact = message.headers.contact
  if (Array.isArray(contact) && contact.length > 0) return contact[0]?.uri
  return undefined
}

function routes(message: SipRequest | SipResponse): NameAddr[] {
  const rr = message.headers['record-route']
  return Array.isArray(rr) ? rr.map((r) => ({ uri: r.uri, params: { ...r.params } })) : []
}

/** UAS side: the dialog a SUBSCRIBE creates (route set = Record-Route as received). */
export function dialogFromRequest(
  request: SipRequest,
  localTag: string,
  localUri: string,
  remoteUri: string,
  transport: Dialog['transport'],
): Dialog {
  return {
    callId: request.headers['call-id'],
    localTag,
    remoteTag: request.headers.from.params?.tag ?? undefined,
    localUri,
    remoteUri,
    remoteTarget: firstContact(request) ?? remoteUri,
    routeSet: routes(request),
    cseq: 1,
    transport,
  }
}

/** UAC side: completes a dialog from the 2xx (route set = Record-Route reversed). */
export function completeFromResponse(dialog: Dialog, response: SipResponse): void {
  dialog.remoteTag = response.headers.to.params?.tag ?? dialog.remoteTag
  dialog.remoteTarget = firstContact(response) ?? dialog.remoteTarget
  const rr = routes(response)
  if (rr.length > 0) dialog.routeSet = rr.reverse()
}

/** From and To for a request we send in `dialog`. */
export function dialogParties(dialog: Dialog): { from: NameAddr; to: NameAddr } {
  return {
    from: { uri: dialog.localUri, params: { tag: dialog.localTag } },
    to: {
      uri: dialog.remoteUri,
      params: dialog.remoteTag ? { tag: dialog.remoteTag } : {},
    },
  }
}

/** The `Expires` of a SUBSCRIBE or its response, bounded; `fallback` when absent or malformed. */
export function expiresOf(message: SipRequest | SipResponse, fallback: number): number {
  const raw = message.headers.expires
  const value = typeof raw === 'number' ? raw : Number.parseInt(String(raw ?? ''), 10)
  return Number.isFinite(value) && value >= 0 ? Math.min(value, 86400) : fallback
}

/** `Subscription-State: active;expires=600` -> { state, reason, expires }. */
export function subscriptionState(value: string | undefined): {
  state: string
  reason?: string
  expires?: number
} {
  const [state = '', ...params] = String(value ?? '')
    .split(';')
    .map((s) => s.trim())
  const out: { state: string; reason?: string; expires?: number } = {
    state: state.toLowerCase(),
  }
  for (const p of params) {
    const [k, v] = p.split('=')
    if (k?.toLowerCase() === 'reason' && v) out.reason = v.toLowerCase()
    if (k?.toLowerCase() === 'expires' && v && Number.isFinite(Number(v))) out.expires = Number(v)
  }
  return out
}
