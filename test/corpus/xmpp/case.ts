/**
 * One entry of the XMPP wire corpus: bytes a remote user writes on their own
 * client stream to a real Prosody, addressed to Parley's identity, and what
 * must come of them. test/contract/wire-corpus.test.ts replays every case
 * against a live host; docs/security.md ("Hostile input from the wire")
 * describes the corpus.
 */

/** Where the sender's bytes go and who they are for. */
export interface XmppCaseContext {
  /** Parley's bare JID (the identity under attack). */
  bot: string
  /** Parley's bound full JID (its one session). */
  botFull: string
  /** The sender's full JID (as Prosody stamps `from`). */
  sender: string
  /** The id to give the stanza (`corpus-<name>`); replies and logs are matched on it. */
  id: string
  /** Text unique to the case (`[corpus:<name>]`), to find what reached the bot. */
  marker: string
}

export interface XmppExpectation {
  /**
   * What reaches the bot: a `message` activity holding the marker (and `text`
   * exactly, when given), `nothing` with the marker or the stanza id, or
   * `any` (presence, subscriptions: the host decides, not the wire).
   */
  bot: 'message' | 'nothing' | 'any'
  /** The exact text the bot must get (default: the marker is enough). */
  text?: string
  /**
   * A log line Parley must write for it: `code` (always PARLEY_ERR_WIRE_INVALID
   * in this corpus), and whether the line names the stanza id (the plugin's
   * own `unusable stanza ignored`) or not (the host's `plugin emitted an
   * invalid event`, which names the network only).
   */
  log?: { code: 'PARLEY_ERR_WIRE_INVALID'; withId: boolean }
  /**
   * What the sender gets back for the stanza id: an error (from Prosody or
   * from Parley), a result, a stream error from Prosody that ends the
   * sender's session (its condition), or `any`/none checked.
   */
  reply?: 'error' | 'result' | { streamError: string }
}

export interface XmppCase {
  /** Unique, kebab-case; also the stanza id (`corpus-<name>`). */
  name: string
  /** One line: what the case attacks. */
  attacks: string
  /**
   * `session`: written on the sender's long-lived session (Prosody keeps it).
   * `fresh`: written on a new session of its own, because Prosody may end it
   * (not-well-formed XML, an oversized stanza) or because the case needs its
   * own resource (`resource`).
   */
  via: 'session' | 'fresh'
  /** For `fresh`: the resource to bind (any text Prosody accepts). */
  resource?: string
  /** For `fresh`: `xml:lang` of the sender's stream header. */
  lang?: string
  /** The bytes to write, all at once. */
  build(ctx: XmppCaseContext): string | Buffer
  expect: XmppExpectation
}

/** A message to Parley's bare JID with the given attributes and inner XML (attributes are written as given). */
export function message(
  ctx: XmppCaseContext,
  attrs: string,
  inner: string,
  to: string = ctx.bot,
): string {
  return `<message to='${to}' id='${ctx.id}' ${attrs}>${inner}</message>`
}

/** `<a><a>…</a></a>` nested `depth` times (7 bytes a level). */
export function nested(depth: number, leaf = ''): string {
  return `${'<a>'.repeat(depth)}${leaf}${'</a>'.repeat(depth)}`
}
