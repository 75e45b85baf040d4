/**
 * One entry of the SIP wire corpus: bytes a peer writes to Parley's SIP edge
 * (straight onto its TCP or UDP listener, through a real Kamailio, or inside
 * a real subscription dialog), and what must come of them.
 * test/contract/wire-corpus.test.ts replays every case against a live host;
 * docs/security.md ("Hostile input from the wire") describes the corpus.
 */

export interface SipCaseContext {
  /** The edge's domain and the bot's URI there (`sip:bot@parley.test`). */
  domain: string
  bot: string
  /** The address raw clients write from (their Via host). */
  local: string
  /** Unique to the case: Call-ID, Via branch, From tag. */
  callId: string
  branch: string
  tag: string
  /** Text unique to the case (`[corpus:<name>]`), to find what reached the bot. */
  marker: string
  /** A Contact nobody answers (a closed port on `local`): where NOTIFYs for a SUBSCRIBE go. */
  deadContact: string
  /** The proxy's pre-loaded Route for requests through Kamailio (`via: 'kamailio'` only). */
  route?: string
  /** The subscription dialog Parley opened with the rogue peer (`via: 'dialog'` only). */
  dialog?: {
    callId: string
    /** Parley's tag (To of a NOTIFY) and the rogue peer's (From of a NOTIFY). */
    parleyTag: string
    peerTag: string
    /** Parley's identity (To of a NOTIFY) and the watched URI (From). */
    parleyUri: string
    peerUri: string
    /** Where in-dialog requests go: Parley's Contact. */
    target: string
    /** The next CSeq to use. */
    cseq(): number
  }
}

/**
 * The first final response (status) on the case's connection or socket.
 * `none` and 5xx must say why (a documented exception: the package drops
 * what it cannot parse into a transaction, a response is never answered...).
 */
export type SipAnswer = { answer: number; why?: string } | { answer: 'none' | 'any'; why: string }

export type SipExpectation = SipAnswer & {
  /** How many final responses in all (pipelined requests). @defaultValue at most what `answer` implies */
  answers?: number
  /** What reaches the bot: a message holding the marker (or exactly `text`), or nothing with the marker. */
  bot?: 'message' | 'nothing'
  text?: string
  /**
   * A log line Parley must write: the code and, when `callId` is true, the
   * line names the case's Call-ID (the plugin's `unusable SIP request
   * refused`); `msg` is the line's message when it matters.
   */
  log?: { code: 'PARLEY_ERR_WIRE_INVALID'; callId?: boolean; msg?: string }
}

export interface SipCase {
  /** Unique, kebab-case; also in the Call-ID. */
  name: string
  /** One line: what the case attacks. */
  attacks: string
  /**
   * `tcp`: a new TCP connection to the edge; `udp`: datagrams to the edge's
   * UDP port; `kamailio`: a new TCP connection to Kamailio, which routes the
   * parley.test domain to the edge; `dialog`: onto the edge's TCP listener,
   * inside the presence subscription Parley holds with the rogue peer.
   */
  via: 'tcp' | 'udp' | 'kamailio' | 'dialog'
  /** Replayed alone, not beside other cases (it blocks the event loop, or may crash it). */
  alone?: boolean
  /**
   * A bug this case found and that was fixed, in one line: an assertion
   * failing here names it (a regression).
   */
  fixed?: string
  /**
   * The bytes: one write (or datagram), or several; `pauseMs` between them
   * (a dribbled request).
   */
  build(ctx: SipCaseContext): string | Buffer | Array<string | Buffer>
  pauseMs?: number
  expect: SipExpectation
}

/**
 * A request as text: default headers, each replaced (any case) or removed
 * (`null`) by `headers`, then the raw `extra` lines as written (duplicates,
 * folding, odd names), then the body. Content-Length is the body's byte
 * length unless `headers` says otherwise.
 */
export function request(
  c: SipCaseContext,
  method: string,
  options: {
    uri?: string
    headers?: Record<string, string | null>
    extra?: string[]
    body?: string | Buffer
    transport?: 'TCP' | 'UDP'
    startLine?: string
  } = {},
): Buffer {
  const uri = options.uri ?? c.bot
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body
  const defaults: Array<[string, string]> = [
    ['Via', `SIP/2.0/${options.transport ?? 'TCP'} ${c.local}:5060;branch=${c.branch};rport`],
    ...(c.route ? ([['Route', `<${c.route}>`]] as Array<[string, string]>) : []),
    ['Max-Forwards', '70'],
    ['From', `<sip:mallory@aol.test>;tag=${c.tag}`],
    ['To', `<${uri}>`],
    ['Call-ID', c.callId],
    ['CSeq', `1 ${method}`],
    ...(method === 'SUBSCRIBE' || method === 'INVITE'
      ? ([['Contact', `<${c.deadContact}>`]] as Array<[string, string]>)
      : []),
    ...(body ? ([['Content-Type', 'text/plain']] as Array<[string, string]>) : []),
    ['Content-Length', String(body?.length ?? 0)],
  ]
  const overrides = new Map(
    Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), { name: k, v }]),
  )
  const lines = [options.startLine ?? `${method} ${uri} SIP/2.0`]
  for (const [name, value] of defaults) {
    const override = overrides.get(name.toLowerCase())
    overrides.delete(name.toLowerCase())
    if (override?.v === null) continue
    lines.push(`${name}: ${override?.v ?? value}`)
  }
  for (const { name, v } of overrides.values()) if (v !== null) lines.push(`${name}: ${v}`)
  lines.push(...(options.extra ?? []))
  return Buffer.concat([
    Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'),
    body ?? Buffer.alloc(0),
  ])
}

/**
 * A message as two writes, its header block and then its body: the `sip`
 * package takes at most 60,480 bytes in one read while it looks for the end
 * of the headers (more is a "flood": it closes the connection), so a big
 * body reaches the edge's own handling only when it comes after the headers.
 */
export function headThenBody(message: Buffer): Buffer[] {
  const end = message.indexOf('\r\n\r\n')
  return end < 0 ? [message] : [message.subarray(0, end + 4), message.subarray(end + 4)]
}

/** A NOTIFY inside the rogue peer's subscription dialog with Parley (`via: 'dialog'`). */
export function dialogNotify(
  c: SipCaseContext,
  options: {
    contentType?: string | null
    body?: string | Buffer
    state?: string | null
    headers?: Record<string, string | null>
  },
): Buffer {
  const d = c.dialog
  if (!d) throw new Error('dialogNotify needs the subscription dialog')
  return request(c, 'NOTIFY', {
    uri: d.target,
    headers: {
      From: `<${d.peerUri}>;tag=${d.peerTag}`,
      To: `<${d.parleyUri}>;tag=${d.parleyTag}`,
      'Call-ID': d.callId,
      CSeq: `${d.cseq()} NOTIFY`,
      Event: 'presence',
      'Subscription-State': options.state === undefined ? 'active;expires=600' : options.state,
      'Content-Type':
        options.contentType === undefined
          ? options.body === undefined
            ? null
            : 'application/pidf+xml'
          : options.contentType,
      ...options.headers,
    },
    ...(options.body !== undefined && { body: options.body }),
  })
}

export const PIDF_NS = 'urn:ietf:params:xml:ns:pidf'

/** A minimal valid PIDF document for `entity`. */
export function pidf(entity: string, basic: 'open' | 'closed', note?: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><presence xmlns="${PIDF_NS}" entity="${entity}"><tuple id="t1"><status><basic>${basic}</basic></status></tuple>${note === undefined ? '' : `<note>${note}</note>`}</presence>`
}
