/**
 * XMPP stanzas <-> Parley's contract, in one place. Pure functions: no
 * connection, no logging (callers log what these functions report).
 * Stanzas are built with @xmpp/xml's `xml()` only, never from strings.
 */
import { createHash, randomUUID } from 'node:crypto'
import { type Element, xml } from '@xmpp/client'
import {
  type Availability,
  formatAddress,
  type InboundMessage,
  type InboundReceipt,
  type InboundTyping,
  parleyError,
  type RosterEntry,
  type SubscriptionAction,
  type TypingState,
} from '../../core/contract/index.js'

export const NETWORK = 'xmpp'

export const NS = {
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  roster: 'jabber:iq:roster',
  ping: 'urn:xmpp:ping',
  delay: 'urn:xmpp:delay',
  chatStates: 'http://jabber.org/protocol/chatstates',
  receipts: 'urn:xmpp:receipts',
  markers: 'urn:xmpp:chat-markers:0',
  sm: 'urn:xmpp:sm:3',
} as const

// ---------------------------------------------------------------- addresses

export interface Jid {
  local?: string
  domain: string
  resource?: string
}

// RFC 7622 §3.3.1: these may not appear in a localpart; PRECIS also rules out
// spaces and control characters.
const LOCAL_FORBIDDEN = /["&'/:<>@\s\p{Cc}]/u
const LABEL = /^[\p{L}\p{N}_](?:[\p{L}\p{N}_-]{0,61}[\p{L}\p{N}_])?$/u
const IP_LITERAL = /^\[[0-9a-f:.]+\]$/
const MAX_PART_BYTES = 1023

function invalid(id: string, reason: string): never {
  throw parleyError('PARLEY_ERR_ADDRESS_INVALID', `${NETWORK}:${String(id).slice(0, 200)}`, reason)
}

/**
 * Parses and normalises a JID (RFC 7622, simplified): localpart and domain
 * lower-cased and NFC-normalised, the resource kept as written.
 * Throws PARLEY_ERR_ADDRESS_INVALID for anything malformed.
 */
export function parseJid(id: string): Jid {
  // Every stanza's from and to are parsed; a busy connection sees the same few
  // JIDs again and again (NFC, regexes and byte counts add up to ~10 µs each).
  const cached = jidCache.get(id)
  if (cached) return cached
  const jid = Object.freeze(parseJidUncached(id))
  if (jidCache.size >= JID_CACHE_MAX) jidCache.clear()
  jidCache.set(id, jid)
  return jid
}

const JID_CACHE_MAX = 10_000
const jidCache = new Map<string, Jid>()

function parseJidUncached(id: string): Jid {
  if (typeof id !== 'string' || id.length === 0) invalid(id, 'empty JID')
  if (id.length > 3 * MAX_PART_BYTES + 2) invalid(id, 'JID too long')
  const slash = id.indexOf('/')
  const bare = slash >= 0 ? id.slice(0, slash) : id
  const resource = slash >= 0 ? id.slice(slash + 1).normalize('NFC') : undefined
  if (resource !== undefined) {
    if (resource.length === 0) invalid(id, 'empty resource')
    if (Buffer.byteLength(resource) > MAX_PART_BYTES) invalid(id, 'resource too long')
    if (/\p{Cc}/u.test(resource)) invalid(id, 'control character in resource')
  }
  const at = bare.indexOf('@')
  if (at !== bare.lastIndexOf('@')) invalid(id, "more than one '@'")
  let local: string | undefined
  if (at >= 0) {
    local = bare.slice(0, at).normalize('NFC').toLowerCase()
    if (local.length === 0) invalid(id, 'empty localpart')
    if (Buffer.byteLength(local) > MAX_PART_BYTES) invalid(id, 'localpart too long')
    if (LOCAL_FORBIDDEN.test(local)) invalid(id, 'forbidden character in localpart')
  }
  const domain = (at >= 0 ? bare.slice(at + 1) : bare)
    .normalize('NFC')
    .toLowerCase()
    .replace(/\.$/, '')
  if (domain.length === 0) invalid(id, 'empty domain')
  if (Buffer.byteLength(domain) > MAX_PART_BYTES) invalid(id, 'domain too long')
  if (!IP_LITERAL.test(domain) && !domain.split('.').every((label) => LABEL.test(label))) {
    invalid(id, 'malformed domain')
  }
  return {
    ...(local !== undefined && { local }),
    domain,
    ...(resource !== undefined && { resource }),
  }
}

/** The bare JID (`local@domain`, or `domain`), normalised; the id Parley uses in `xmpp:` addresses. */
export function normalizeId(id: string): string {
  const jid = parseJid(id)
  return jid.local === undefined ? jid.domain : `${jid.local}@${jid.domain}`
}

export function address(bareJid: string): string {
  return formatAddress(NETWORK, bareJid)
}

// ------------------------------------------------------------- availability

const SHOW_TO_AVAILABILITY: Record<string, Availability> = {
  chat: 'available',
  away: 'away',
  xa: 'away',
  dnd: 'dnd',
}

/**
 * RFC 6121 §4.7.2.1 `<show/>` (and `type="unavailable"`) to Parley's
 * availability. No show, or `chat`, is available; an unknown show value on an
 * available presence is still available (the caller logs it).
 */
export function toAvailability(
  show: string | null | undefined,
  type?: string | null,
): Availability {
  if (type === 'unavailable') return 'offline'
  if (show === null || show === undefined || show === '') return 'available'
  return SHOW_TO_AVAILABILITY[show] ?? 'available'
}

export function isKnownShow(show: string): boolean {
  return show in SHOW_TO_AVAILABILITY
}

/** Parley availability to what an outbound presence carries. `busy` has no XMPP show: dnd is closest. */
export function fromAvailability(
  availability: Availability,
): { show?: string; type?: 'unavailable' } | undefined {
  switch (availability) {
    case 'available':
      return {}
    case 'away':
      return { show: 'away' }
    case 'busy':
    case 'dnd':
      return { show: 'dnd' }
    case 'offline':
      return { type: 'unavailable' }
    default:
      return undefined
  }
}

// ----------------------------------------------------------- subscriptions

const SUBSCRIPTION_TYPES: Record<string, SubscriptionAction> = {
  subscribe: 'request',
  subscribed: 'approved',
  unsubscribe: 'removed',
  unsubscribed: 'refused',
}

/** RFC 6121 §3 presence types to subscription actions; undefined for other types. */
export function toSubscriptionAction(
  type: string | null | undefined,
): SubscriptionAction | undefined {
  return type ? SUBSCRIPTION_TYPES[type] : undefined
}

export type SubscriptionStanzaType = 'subscribe' | 'unsubscribe' | 'subscribed' | 'unsubscribed'

// ------------------------------------------------------------------- ids

/**
 * The stanza id for Parley message `messageId`: the same for every retry, so
 * the recipient (and receipts) can match a redelivery to the first attempt.
 */
export function stanzaIdFor(messageId: string): string {
  if (/^[A-Za-z0-9_.:-]{1,100}$/.test(messageId)) return `parley-${messageId}`
  return `parley-h-${digest(messageId)}`
}

/** A deterministic id for a stanza that came without one. */
export function synthesizeId(kind: string, ...parts: string[]): string {
  return `${kind}-${digest(parts.join('\u0000'))}`
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22)
}

// XML 1.0 §2.2 Char: no C0 controls but tab/LF/CR, no U+FFFE/U+FFFF, no lone surrogates.
const NOT_XML_CHAR = new RegExp(
  [
    '[\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\ufffe\\uffff]',
    '[\\ud800-\\udbff](?![\\udc00-\\udfff])',
    '(?<![\\ud800-\\udbff])[\\udc00-\\udfff]',
  ].join('|'),
  'g',
)

/** Drops characters XML 1.0 cannot carry (they would make the server close our stream). */
export function xmlSafe(text: string): string {
  return text.replace(NOT_XML_CHAR, '')
}

// ------------------------------------------------------------ outbound

export function chatMessage(options: {
  to: string
  id: string
  text: string
  thread?: string
}): Element {
  return xml(
    'message',
    { type: 'chat', to: options.to, id: options.id },
    xml('body', {}, xmlSafe(options.text)),
    options.thread ? xml('thread', {}, xmlSafe(options.thread)) : null,
    // XEP-0184: ask for a delivery receipt; the answer becomes a `receipt` event.
    xml('request', { xmlns: NS.receipts }),
    // XEP-0085: a message is also an `active` chat state.
    xml('active', { xmlns: NS.chatStates }),
  )
}

export function presenceStanza(options: {
  availability: Availability
  status?: string
}): Element | undefined {
  const wire = fromAvailability(options.availability)
  if (!wire) return undefined
  return xml(
    'presence',
    wire.type ? { type: wire.type } : {},
    wire.show ? xml('show', {}, wire.show) : null,
    options.status ? xml('status', {}, xmlSafe(options.status)) : null,
  )
}

export function subscriptionStanza(type: SubscriptionStanzaType, to: string): Element {
  return xml('presence', { type, to, id: `parley-${randomUUID()}` })
}

export function probeStanza(to: string): Element {
  return xml('presence', { type: 'probe', to, id: `parley-${randomUUID()}` })
}

/** XEP-0184 receipt for message `id`, sent once the message is durably queued. */
export function receiptStanza(to: string, id: string): Element {
  return xml(
    'message',
    { to, id: `parley-${randomUUID()}` },
    xml('received', { xmlns: NS.receipts, id }),
  )
}

export function pingStanza(to: string): Element {
  return xml('iq', { type: 'get', to, id: `ping-${randomUUID()}` }, xml('ping', { xmlns: NS.ping }))
}

/**
 * The error answer to a message we could not accept (RFC 6120 §8.3), or
 * undefined when the stanza is itself an error (never answer an error).
 */
export function messageError(
  stanza: Element,
  error: { type: 'wait' | 'cancel' | 'modify'; condition: string; text?: string },
): Element | undefined {
  if (stanza.attrs.type === 'error' || !stanza.attrs.from) return undefined
  return xml(
    'message',
    { type: 'error', to: stanza.attrs.from, ...(stanza.attrs.id && { id: stanza.attrs.id }) },
    xml(
      'error',
      { type: error.type },
      xml(error.condition, { xmlns: NS.stanzas }),
      error.text ? xml('text', { xmlns: NS.stanzas }, error.text) : null,
    ),
  )
}

// ------------------------------------------------------------- inbound

export type MessageReading =
  | {
      kind: 'event'
      event: InboundMessage | InboundTyping | InboundReceipt
      receiptRequested: boolean
    }
  | { kind: 'error'; from: string; id?: string; condition: string; text?: string }
  | { kind: 'ignored'; reason: string }
  | { kind: 'invalid'; reason: string }

export interface Self {
  /** Our bare JID, normalised. */
  bare: string
  domain: string
}

/** Reads one `<message/>` addressed to us. */
export function readMessage(stanza: Element, self: Self, now = new Date()): MessageReading {
  // RFC 6121 §5.2.2: no type, or a type not understood, is `normal`.
  const given = stanza.attrs.type
  const type =
    given && ['chat', 'groupchat', 'headline', 'error'].includes(given) ? given : 'normal'
  const fullFrom = stanza.attrs.from
  // RFC 6120 §8.1.2.1: no 'from' means the user's own account.
  if (!fullFrom) return { kind: 'ignored', reason: 'message without from (own account or server)' }
  let from: string
  try {
    from = normalizeId(fullFrom)
  } catch (err) {
    return { kind: 'invalid', reason: `bad from: ${(err as Error).message}` }
  }
  if (type === 'error') {
    const error = stanza.getChild('error')
    const condition = error
      ?.getChildElements()
      .find((c) => c.getNS() === NS.stanzas && c.name !== 'text')?.name
    const text = error?.getChildText('text', NS.stanzas) ?? undefined
    return {
      kind: 'error',
      from,
      condition: condition ?? 'undefined-condition',
      ...(stanza.attrs.id && { id: stanza.attrs.id }),
      ...(text && { text }),
    }
  }
  if (type !== 'chat' && type !== 'normal')
    return { kind: 'ignored', reason: `message type '${type}'` }
  if (from === self.bare) return { kind: 'ignored', reason: 'message from our own account' }

  const base = {
    from: address(from),
    to: address(self.bare),
    at: delayStamp(stanza) ?? now.toISOString(),
  }
  const body = pickBody(stanza)
  if (body !== undefined && body !== '') {
    const thread = stanza.getChildText('thread') ?? undefined
    const remoteId = stanza.attrs.id || synthesizeId('msg', fullFrom, type, thread ?? '', body)
    return {
      kind: 'event',
      event: { type: 'message', ...base, remoteId, text: body, ...(thread && { thread }) },
      receiptRequested: Boolean(stanza.attrs.id && stanza.getChild('request', NS.receipts)),
    }
  }
  const receipt = readReceipt(stanza)
  if (receipt) {
    return {
      kind: 'event',
      event: {
        type: 'receipt',
        ...base,
        remoteId:
          stanza.attrs.id || synthesizeId('rcpt', fullFrom, receipt.receiptFor, receipt.status),
        ...receipt,
      },
      receiptRequested: false,
    }
  }
  const state = chatState(stanza)
  if (state) {
    return {
      kind: 'event',
      event: {
        type: 'typing',
        ...base,
        remoteId: stanza.attrs.id || `typing-${randomUUID()}`,
        state,
      },
      receiptRequested: false,
    }
  }
  return { kind: 'ignored', reason: 'message without body, receipt or chat state' }
}

/** XEP-0184 `<received/>`, or a XEP-0333 `displayed`/`received` marker, with the id it is about. */
function readReceipt(
  stanza: Element,
): { receiptFor: string; status: 'delivered' | 'displayed' } | undefined {
  const received = stanza.getChild('received', NS.receipts)?.attrs.id
  if (received) return { receiptFor: received, status: 'delivered' }
  const displayed = stanza.getChild('displayed', NS.markers)?.attrs.id
  if (displayed) return { receiptFor: displayed, status: 'displayed' }
  const marked = stanza.getChild('received', NS.markers)?.attrs.id
  if (marked) return { receiptFor: marked, status: 'delivered' }
  return undefined
}

const TYPING_STATES: readonly TypingState[] = ['active', 'composing', 'paused', 'inactive', 'gone']

/** XEP-0085 chat state carried by a message, if any. */
export function chatState(stanza: Element): TypingState | undefined {
  for (const child of stanza.getChildElements()) {
    if (
      child.getNS() === NS.chatStates &&
      (TYPING_STATES as readonly string[]).includes(child.name)
    ) {
      return child.name as TypingState
    }
  }
  return undefined
}

function pickBody(stanza: Element): string | undefined {
  const bodies = stanza.getChildren('body')
  const body = bodies.find((b) => !b.attrs['xml:lang']) ?? bodies[0]
  return body?.text()
}

function delayStamp(stanza: Element): string | undefined {
  const stamp = stanza.getChild('delay', NS.delay)?.attrs.stamp
  if (!stamp) return undefined
  const time = Date.parse(stamp)
  return Number.isNaN(time) ? undefined : new Date(time).toISOString()
}

export interface ResourcePresence {
  resource: string
  availability: Availability
  /** The wire value: the show, `available` (no show) or `unavailable`. */
  raw: string
  status?: string
  priority: number
  /** Order of arrival, newest wins ties. */
  seq: number
}

export type PresenceReading =
  | {
      kind: 'presence'
      from: string
      resource: string
      id?: string
      availability: Availability
      raw: string
      status?: string
      priority: number
      at?: string
      /** A show value RFC 6121 does not define (mapped to available). */
      unknownShow?: string
    }
  | { kind: 'subscription'; from: string; id?: string; action: SubscriptionAction; raw: string }
  | { kind: 'error'; from: string; condition: string }
  | { kind: 'ignored'; reason: string }
  | { kind: 'invalid'; reason: string }

/** Reads one `<presence/>` addressed to us. */
export function readPresence(stanza: Element, self: Self): PresenceReading {
  const type = stanza.attrs.type
  const fullFrom = stanza.attrs.from
  if (!fullFrom) return { kind: 'ignored', reason: 'presence without from' }
  let jid: Jid
  try {
    jid = parseJid(fullFrom)
  } catch (err) {
    return { kind: 'invalid', reason: `bad from: ${(err as Error).message}` }
  }
  const from = jid.local === undefined ? jid.domain : `${jid.local}@${jid.domain}`
  const id = stanza.attrs.id || undefined
  if (type === 'error') {
    const condition = stanza.getChild('error')?.getChildElements()[0]?.name ?? 'undefined-condition'
    return { kind: 'error', from, condition }
  }
  const action = toSubscriptionAction(type)
  if (action) return { kind: 'subscription', from, action, raw: type as string, ...(id && { id }) }
  if (type === 'probe') return { kind: 'ignored', reason: 'probe (the server answers probes)' }
  if (type !== undefined && type !== 'unavailable')
    return { kind: 'invalid', reason: `unknown presence type '${type}'` }
  if (from === self.bare) return { kind: 'ignored', reason: 'presence of our own account' }

  const show = stanza.getChildText('show')?.trim() || undefined
  const status = stanza.getChildText('status') ?? undefined
  const priorityText = stanza.getChildText('priority')
  const parsed = priorityText === null ? 0 : Number.parseInt(priorityText, 10)
  const priority = Number.isFinite(parsed) ? Math.max(-128, Math.min(127, parsed)) : 0
  const at = delayStamp(stanza)
  return {
    kind: 'presence',
    from,
    resource: jid.resource ?? '',
    availability: toAvailability(show, type),
    raw: type === 'unavailable' ? 'unavailable' : (show ?? 'available'),
    priority,
    ...(id && { id }),
    ...(status && { status }),
    ...(at && { at }),
    ...(show && type !== 'unavailable' && !isKnownShow(show) && { unknownShow: show }),
  }
}

const RANK: Record<Availability, number> = {
  available: 5,
  busy: 4,
  dnd: 3,
  away: 2,
  unknown: 1,
  offline: 0,
}

/**
 * A contact's presence across its resources (RFC 6121 §4.7.2.3 priority):
 * highest priority, then the most available, then the newest. Undefined when
 * no resource is online (the contact is offline).
 */
export function bestPresence(resources: Iterable<ResourcePresence>): ResourcePresence | undefined {
  let best: ResourcePresence | undefined
  for (const r of resources) {
    if (
      !best ||
      r.priority > best.priority ||
      (r.priority === best.priority && RANK[r.availability] > RANK[best.availability]) ||
      (r.priority === best.priority &&
        RANK[r.availability] === RANK[best.availability] &&
        r.seq > best.seq)
    ) {
      best = r
    }
  }
  return best
}

export interface RosterItem {
  jid: string
  name?: string
  /** none | to | from | both | remove */
  subscription: string
  /** `subscribe` while our request is pending. */
  ask?: string
  groups: string[]
}

/** Items of a roster result or push (RFC 6121 §2.1); items with a malformed JID are skipped. */
export function readRoster(query: Element | undefined): RosterItem[] {
  if (!query) return []
  const items: RosterItem[] = []
  for (const item of query.getChildren('item')) {
    let jid: string
    try {
      jid = normalizeId(item.attrs.jid ?? '')
    } catch {
      continue
    }
    const name = item.attrs.name
    const ask = item.attrs.ask
    items.push({
      jid,
      subscription: item.attrs.subscription ?? 'none',
      groups: item.getChildren('group').map((g) => g.text()),
      ...(name && { name }),
      ...(ask && { ask }),
    })
  }
  return items
}

/**
 * A roster item as a contract roster entry (RFC 6121 §2.1.2.5 subscription
 * values). Parley's state says whether it receives the contact's presence:
 * `both`/`to` -> `both` (their presence reaches us); `ask="subscribe"` ->
 * `pending-out`; `from`/`none` -> `none` (they may see us, we do not see
 * them); `remove` -> removed.
 */
export function rosterEntry(item: RosterItem): RosterEntry {
  const entry: RosterEntry = {
    address: address(item.jid),
    subscription:
      item.subscription === 'both' || item.subscription === 'to'
        ? 'both'
        : item.ask === 'subscribe'
          ? 'pending-out'
          : 'none',
    ...(item.name && { displayName: item.name.slice(0, 255) }),
  }
  return item.subscription === 'remove' ? { ...entry, removed: true } : entry
}
