/**
 * PIDF presence documents <-> Parley's availability, in one place. Pure
 * functions: no connection, no logging (callers log what these report).
 *
 * - RFC 3863 PIDF: `<presence entity>`, `<tuple><status><basic>`, `<note>`.
 * - RFC 4479 data model: `<dm:person>` and its `<dm:note>`.
 * - RFC 4480 RPID: `<rpid:activities>` (§3.2) inside the person.
 * - Lync 2013 `state/availability` numbers, read with `fromLyncAvailability`.
 *
 * Namespaces are resolved from the document's own `xmlns` / `xmlns:*`
 * declarations (fast-xml-parser keeps prefixes as written), and elements are
 * matched on (namespace URI, local name): a peer's choice of prefix never
 * matters, and an element of the right name in another namespace is ignored.
 * Documents are built with fast-xml-parser's XMLBuilder only, never by
 * concatenating text. docs/presence-sip.md has the tables.
 */
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser'
import {
  AVAILABILITIES,
  type Availability,
  fromLyncAvailability,
  LYNC_AVAILABILITY,
  parleyError,
} from '../../core/contract/index.js'

export const PIDF_CONTENT_TYPE = 'application/pidf+xml'

export const NS = {
  pidf: 'urn:ietf:params:xml:ns:pidf',
  dataModel: 'urn:ietf:params:xml:ns:pidf:data-model',
  rpid: 'urn:ietf:params:xml:ns:pidf:rpid',
  lyncState: 'http://schemas.microsoft.com/2006/09/sip/state',
  xml: 'http://www.w3.org/XML/1998/namespace',
} as const

/** Bodies larger than this (UTF-8 bytes) are refused unread. */
export const MAX_PIDF_BYTES = 64 * 1024
/** The longest `status` kept, in UTF-16 code units (a surrogate pair is never split). */
export const MAX_STATUS_LENGTH = 1024
const MAX_ENTITY_LENGTH = 1024

// ------------------------------------------------------------ activities

/**
 * RFC 4480 §3.2 activities to availability. `null`: the activity says nothing
 * about reachability (`unknown`, `other`, `looking-for-work`), so the tuples
 * decide. An activity RFC 4480 does not define is ignored the same way.
 */
export const RPID_ACTIVITY: Readonly<Record<string, 'away' | 'busy' | null>> = Object.freeze({
  away: 'away',
  vacation: 'away',
  holiday: 'away',
  sleeping: 'away',
  'permanent-absence': 'away',
  travel: 'away',
  'in-transit': 'away',
  steering: 'away',
  breakfast: 'away',
  dinner: 'away',
  lunch: 'away',
  meal: 'away',
  busy: 'busy',
  'on-the-phone': 'busy',
  meeting: 'busy',
  appointment: 'busy',
  presentation: 'busy',
  performance: 'busy',
  playing: 'busy',
  spectator: 'busy',
  shopping: 'busy',
  tv: 'busy',
  worship: 'busy',
  unknown: null,
  other: null,
  'looking-for-work': null,
})

/** The availability an RPID activity gives, or undefined when it gives none. */
export function activityAvailability(activity: string): 'away' | 'busy' | undefined {
  return Object.hasOwn(RPID_ACTIVITY, activity) ? (RPID_ACTIVITY[activity] ?? undefined) : undefined
}

// ------------------------------------------------------------- reading

export type PidfReading =
  | {
      kind: 'presence'
      /** The `entity` attribute as written (trimmed); compare with normalizeSipUri. */
      entity: string
      /**
       * `unknown` only for a document that says nothing: no `<basic>`, no
       * activity that maps, no Lync number (a neutral document, e.g. while
       * authorisation is pending).
       */
      availability: Availability
      status?: string
      /** The deciding wire value: `open`, `closed`, an activity (`on-the-phone`), `lync:6500`, or `none`. */
      raw: string
    }
  | { kind: 'invalid'; reason: string }

/**
 * Reads one PIDF body (a NOTIFY's or a PUBLISH's). Never throws: anything
 * unusable is `{ kind: 'invalid', reason }`.
 *
 * Decision, in order: every `<basic>` closed -> `offline` (`closed`); a Lync
 * `state/availability` number in a person -> its range; an RPID activity
 * (busy-type ones win over away-type ones) -> `busy` / `away`; a tuple open
 * -> `available` (`open`); else `unknown` (`none`). One open tuple is enough:
 * open wins over closed.
 */
export function readPidf(body: string, contentType?: string): PidfReading {
  try {
    return readPidfUnsafe(body, contentType)
  } catch (err) {
    // Belt and braces: the reader is written not to throw, but wire input
    // must never escape the plugin as an exception.
    return { kind: 'invalid', reason: `unreadable PIDF: ${describe(err)}` }
  }
}

function readPidfUnsafe(body: unknown, contentType: unknown): PidfReading {
  // No Content-Type (undefined or '') is taken as PIDF: the caller chose to read it so.
  if (contentType !== undefined && contentType !== null && String(contentType).trim() !== '') {
    const media = typeof contentType === 'string' ? mediaType(contentType) : ''
    if (media !== PIDF_CONTENT_TYPE) {
      return invalid(`content type '${clip(String(contentType))}' is not ${PIDF_CONTENT_TYPE}`)
    }
  }
  if (typeof body !== 'string') return invalid('body is not text')
  if (body.length > MAX_PIDF_BYTES || Buffer.byteLength(body, 'utf8') > MAX_PIDF_BYTES) {
    return invalid(`body larger than ${MAX_PIDF_BYTES / 1024} KiB`)
  }
  const text = body.startsWith('\uFEFF') ? body.slice(1) : body
  if (text.trim() === '') return invalid('empty body')

  const parsed = parseXml(text)
  if (!parsed.ok) return invalid(parsed.reason)
  const root = parsed.root

  if (root.ns !== NS.pidf || root.name !== 'presence') {
    return invalid(
      `root element is {${root.ns ?? ''}}${root.name}, not PIDF <presence> in ${NS.pidf}`,
    )
  }
  const entity = (root.attrs.get('entity') ?? '').trim()
  const entityProblem = checkEntity(entity)
  if (entityProblem) return invalid(`presence entity ${entityProblem}`)

  const tuples = children(root, NS.pidf, 'tuple').map((tuple) => {
    const status = children(tuple, NS.pidf, 'status')[0]
    const basic = status ? children(status, NS.pidf, 'basic')[0]?.text.trim().toLowerCase() : ''
    return { tuple, basic: basic === 'open' || basic === 'closed' ? basic : undefined }
  })
  const persons = children(root, NS.dataModel, 'person')

  const basics = tuples.flatMap((t) => (t.basic ? [t.basic] : []))
  const open = basics.includes('open')
  const decision: { availability: Availability; raw: string } =
    basics.length > 0 && !open
      ? { availability: 'offline', raw: 'closed' }
      : (lyncDecision(persons) ??
        activityDecision(root, persons) ??
        (open
          ? { availability: 'available', raw: 'open' }
          : { availability: 'unknown', raw: 'none' }))

  // Person note first (it is about the person), then presence-level, then the
  // tuples' (open tuples before the others).
  const orderedTuples = [
    ...tuples.filter((t) => t.basic === 'open'),
    ...tuples.filter((t) => t.basic !== 'open'),
  ]
  const status = firstNote([
    ...persons.flatMap((p) => children(p, NS.dataModel, 'note')),
    ...children(root, NS.pidf, 'note'),
    ...orderedTuples.flatMap((t) => children(t.tuple, NS.pidf, 'note')),
  ])

  return {
    kind: 'presence',
    entity,
    availability: decision.availability,
    raw: decision.raw,
    ...(status !== undefined && { status }),
  }
}

/** The first Lync `availability` number (0-999999999) inside a person element. */
function lyncDecision(
  persons: XmlElement[],
): { availability: Availability; raw: string } | undefined {
  for (const person of persons) {
    for (const el of descendants(person, NS.lyncState, 'availability')) {
      const value = el.text.trim()
      if (!/^\d{1,9}$/.test(value)) continue
      const n = Number(value)
      return { availability: fromLyncAvailability(n), raw: `lync:${n}` }
    }
  }
  return undefined
}

/**
 * RPID activities in the persons; when no person carries any, activities
 * elsewhere in the document (pre-RFC 4479 peers put them in the tuple or its
 * status). A busy-type activity wins over an away-type one; within a kind the
 * first in document order decides.
 */
function activityDecision(
  root: XmlElement,
  persons: XmlElement[],
): { availability: Availability; raw: string } | undefined {
  let groups = persons.flatMap((p) => children(p, NS.rpid, 'activities'))
  if (groups.length === 0) groups = [...descendants(root, NS.rpid, 'activities')]
  let away: string | undefined
  for (const group of groups) {
    for (const activity of group.children) {
      if (activity.ns !== NS.rpid) continue
      const mapped = activityAvailability(activity.name)
      if (mapped === 'busy') return { availability: 'busy', raw: activity.name }
      if (mapped === 'away') away ??= activity.name
    }
  }
  return away === undefined ? undefined : { availability: 'away', raw: away }
}

function firstNote(notes: XmlElement[]): string | undefined {
  for (const note of notes) {
    const text = note.text.trim()
    if (text !== '') return capStatus(text)
  }
  return undefined
}

function capStatus(text: string): string {
  if (text.length <= MAX_STATUS_LENGTH) return text
  let cut = text.slice(0, MAX_STATUS_LENGTH)
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1)
  return cut.trimEnd()
}

function checkEntity(entity: string): string | undefined {
  if (entity === '') return 'is missing'
  if (entity.length > MAX_ENTITY_LENGTH) return 'is too long'
  if (/[\s\p{Cc}]/u.test(entity) || new RegExp(NOT_XML_CHAR.source).test(entity)) {
    return 'has spaces, control or non-XML characters'
  }
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:./.test(entity)) return `'${clip(entity)}' is not a URI`
  return undefined
}

function mediaType(value: string): string {
  return (value.split(';')[0] ?? '').trim().toLowerCase()
}

function invalid(reason: string): { kind: 'invalid'; reason: string } {
  return { kind: 'invalid', reason }
}

function clip(value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}…` : value
}

function describe(err: unknown): string {
  return clip(err instanceof Error ? err.message : String(err))
}

// ---------------------------------------------------------- XML (reading)

/** An element with its namespace resolved. */
interface XmlElement {
  /** Namespace URI; undefined for an element in no namespace. */
  ns: string | undefined
  /** Local name (the prefix removed). */
  name: string
  /** Attributes by qualified name, entity references decoded. */
  attrs: Map<string, string>
  children: XmlElement[]
  /** The element's own text (text and CDATA children, concatenated). */
  text: string
}

function children(el: XmlElement, ns: string, name: string): XmlElement[] {
  return el.children.filter((c) => c.ns === ns && c.name === name)
}

function* descendants(el: XmlElement, ns: string, name: string): Generator<XmlElement> {
  for (const child of el.children) {
    if (child.ns === ns && child.name === name) yield child
    yield* descendants(child, ns, name)
  }
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Entity references are checked and decoded here (decodeText): only XML's
  // five and character references exist, since DOCTYPE is refused.
  processEntities: false,
  cdataPropName: '#cdata',
  maxNestedTags: 64,
})

type Parsed = { ok: true; root: XmlElement } | { ok: false; reason: string }

/** fast-xml-parser's ordered node: one key naming the tag (or #text/#cdata/#comment), maybe ':@'. */
type OrderedNode = Record<string, unknown>

function parseXml(text: string): Parsed {
  // No DTD at all: no external entities (XXE), no entity expansion (billion laughs).
  if (/<!DOCTYPE|<!ENTITY/i.test(text))
    return { ok: false, reason: 'DOCTYPE/ENTITY declarations are refused' }
  const outsideCdata = text.replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '').replace(/<!--[\s\S]*?-->/g, '')
  const badRef = /&(?!(?:lt|gt|amp|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});)/.exec(outsideCdata)
  if (badRef) return { ok: false, reason: 'not well-formed XML: undeclared entity or stray &' }

  const valid = XMLValidator.validate(text)
  if (valid !== true) {
    const { msg, line, col } = valid.err
    return { ok: false, reason: `not well-formed XML: ${clip(msg)} (line ${line}, column ${col})` }
  }
  let nodes: unknown
  try {
    nodes = parser.parse(text)
  } catch (err) {
    return { ok: false, reason: `not well-formed XML: ${describe(err)}` }
  }
  if (!Array.isArray(nodes)) return { ok: false, reason: 'not well-formed XML' }
  const elements = (nodes as OrderedNode[]).filter((n) => tagOf(n) !== undefined)
  if (elements.length !== 1) {
    return {
      ok: false,
      reason: elements.length === 0 ? 'no root element' : 'more than one root element',
    }
  }
  const scope = new Map<string, string>([['xml', NS.xml]])
  return toElement(elements[0] as OrderedNode, scope)
}

function tagOf(node: OrderedNode): string | undefined {
  for (const key of Object.keys(node)) {
    if (key !== ':@' && key !== '#text' && key !== '#cdata' && key !== '#comment') return key
  }
  return undefined
}

function toElement(node: OrderedNode, parentScope: Map<string, string>): Parsed {
  const qname = tagOf(node) as string
  const rawAttrs = (node[':@'] ?? {}) as Record<string, unknown>
  const attrs = new Map<string, string>()
  let scope = parentScope
  for (const [key, value] of Object.entries(rawAttrs)) {
    const raw = String(value)
    if (raw.includes('<'))
      return { ok: false, reason: `not well-formed XML: '<' in attribute ${clip(key)}` }
    const decoded = decodeText(raw)
    if (decoded === undefined)
      return { ok: false, reason: 'character reference to a non-XML character' }
    if (key === 'xmlns' || key.startsWith('xmlns:')) {
      if (scope === parentScope) scope = new Map(parentScope)
      const prefix = key === 'xmlns' ? '' : key.slice(6)
      if (prefix === 'xml' || prefix === 'xmlns' || (prefix !== '' && decoded === '')) {
        return { ok: false, reason: `bad namespace declaration ${clip(key)}` }
      }
      scope.set(prefix, decoded)
    }
    attrs.set(key, decoded)
  }

  const parts = qname.split(':')
  if (parts.length > 2 || parts.some((p) => p === '')) {
    return { ok: false, reason: `bad element name '${clip(qname)}'` }
  }
  const [prefix, local] = parts.length === 2 ? (parts as [string, string]) : ['', qname]
  const ns = scope.get(prefix)
  if (prefix !== '' && ns === undefined) {
    return { ok: false, reason: `undeclared namespace prefix '${clip(prefix)}'` }
  }

  const el: XmlElement = {
    ns: ns === '' ? undefined : ns,
    name: local,
    attrs,
    children: [],
    text: '',
  }
  const content = node[qname]
  for (const child of Array.isArray(content) ? (content as OrderedNode[]) : []) {
    if ('#text' in child) {
      const decoded = decodeText(String(child['#text']))
      if (decoded === undefined)
        return { ok: false, reason: 'character reference to a non-XML character' }
      el.text += decoded
    } else if ('#cdata' in child) {
      const cdata = child['#cdata']
      for (const piece of Array.isArray(cdata) ? (cdata as OrderedNode[]) : []) {
        el.text += String(piece['#text'] ?? '')
      }
    } else if (tagOf(child) !== undefined) {
      const parsed = toElement(child, scope)
      if (!parsed.ok) return parsed
      el.children.push(parsed.root)
    }
  }
  return { ok: true, root: el }
}

const PREDEFINED: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
}

/** XML's five entities and character references; undefined for a reference to a non-XML character. */
function decodeText(text: string): string | undefined {
  if (!text.includes('&')) return text
  let bad = false
  const out = text.replace(
    /&(?:(lt|gt|amp|quot|apos)|#([0-9]{1,7})|#x([0-9a-fA-F]{1,6}));/g,
    (_, name, dec, hex) => {
      if (name) return PREDEFINED[name as string] ?? ''
      const code = dec ? Number.parseInt(dec as string, 10) : Number.parseInt(hex as string, 16)
      if (!isXmlChar(code)) {
        bad = true
        return ''
      }
      return String.fromCodePoint(code)
    },
  )
  return bad ? undefined : out
}

// XML 1.0 §2.2 Char.
function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  )
}

// ------------------------------------------------------------- building

export interface PidfInput {
  /** The presentity's URI, e.g. `sip:bot@parley.example` (written as given; the builder escapes it). */
  entity: string
  availability: Availability
  status?: string
  /** The tuple's id (an XML NCName); the same across publications. Default `parley`. */
  tupleId?: string
}

const BASIC: Readonly<Record<Availability, 'open' | 'closed'>> = {
  available: 'open',
  away: 'open',
  busy: 'open',
  dnd: 'open',
  offline: 'closed',
  unknown: 'closed',
}

/** The RPID activity written for an availability; dnd is `busy` (RPID has no do-not-disturb). */
const ACTIVITY: Readonly<Partial<Record<Availability, 'away' | 'busy'>>> = {
  away: 'away',
  busy: 'busy',
  dnd: 'busy',
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  suppressEmptyNode: true,
  format: false,
  processEntities: true,
})

/**
 * A PIDF document for Parley's own presence: one tuple (basic `open`, or
 * `closed` for offline and unknown), and for away/busy/dnd a `dm:person` with
 * an RPID activity (`away`; `busy`; dnd is `busy` plus Lync's
 * `state/availability` 9500, so RPID peers see busy and Lync-aware peers,
 * and readPidf, see do not disturb). A status goes to both the tuple's
 * `<note>` (RFC 3863 readers) and the person's `<dm:note>` (RFC 4479
 * readers). Throws PARLEY_ERR_ADDRESS_INVALID for an entity that is not a URI
 * and PARLEY_ERR_VALIDATION for a bad availability or tuple id.
 */
export function buildPidf(input: PidfInput): string {
  const { entity, availability } = input
  const tupleId = input.tupleId ?? 'parley'
  const entityProblem = typeof entity === 'string' ? checkEntity(entity) : 'is missing'
  if (entityProblem)
    throw parleyError('PARLEY_ERR_ADDRESS_INVALID', clip(String(entity)), `entity ${entityProblem}`)
  if (!(AVAILABILITIES as readonly string[]).includes(availability)) {
    throw parleyError(
      'PARLEY_ERR_VALIDATION',
      `unknown availability '${clip(String(availability))}'`,
    )
  }
  if (typeof tupleId !== 'string' || !/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(tupleId)) {
    throw parleyError(
      'PARLEY_ERR_VALIDATION',
      `tuple id '${clip(String(tupleId))}' is not an XML NCName`,
    )
  }
  const status = input.status === undefined ? '' : capStatus(xmlSafe(String(input.status)).trim())
  const activity = ACTIVITY[availability]
  const dnd = availability === 'dnd'
  const withPerson = activity !== undefined || status !== ''

  const tuple: Record<string, unknown> = {
    '@_id': tupleId,
    status: { basic: BASIC[availability] },
    ...(status && { note: status }),
  }
  const person: Record<string, unknown> = {
    '@_id': `p-${tupleId}`,
    ...(activity && { 'rpid:activities': { [`rpid:${activity}`]: '' } }),
    ...(dnd && { 'ms:state': { 'ms:availability': String(LYNC_AVAILABILITY.dnd) } }),
    ...(status && { 'dm:note': status }),
  }
  const presence: Record<string, unknown> = {
    '@_xmlns': NS.pidf,
    ...(withPerson && { '@_xmlns:dm': NS.dataModel }),
    ...(activity && { '@_xmlns:rpid': NS.rpid }),
    ...(dnd && { '@_xmlns:ms': NS.lyncState }),
    '@_entity': entity,
    tuple,
    ...(withPerson && { 'dm:person': person }),
  }
  return builder.build({
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    presence,
  }) as string
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

/** Drops characters XML 1.0 cannot carry. */
function xmlSafe(text: string): string {
  return text.replace(NOT_XML_CHAR, '')
}
