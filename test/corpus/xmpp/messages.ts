/**
 * XMPP corpus: `<message/>` stanzas a remote user can make Prosody deliver to
 * Parley's identity (types, ids, bodies, threads, delays, receipts, sizes,
 * nesting, namespaces, xml:lang). Written on the sender's own session;
 * Prosody keeps the session for all of these. See case.ts.
 */
import { message, nested, type XmppCase } from './case.js'

const MAX_TEXT = 65_536 // core/queue/inbound-schema.ts: message text
const WIRE_INVALID = { code: 'PARLEY_ERR_WIRE_INVALID', withId: false } as const
const WIRE_INVALID_WITH_ID = { code: 'PARLEY_ERR_WIRE_INVALID', withId: true } as const

export const messageCases: XmppCase[] = [
  {
    name: 'message-without-type',
    attacks: 'no type attribute: RFC 6121 §5.2.2 says normal, which Parley delivers like chat',
    via: 'session',
    build: (c) => message(c, '', `<body>${c.marker} untyped</body>`),
    expect: { bot: 'message' },
  },
  {
    name: 'message-without-id',
    attacks: 'no id attribute: the plugin must make up a stable remote id',
    via: 'session',
    build: (c) => `<message to='${c.bot}' type='chat'><body>${c.marker} no id</body></message>`,
    expect: { bot: 'message' },
  },
  {
    name: 'message-empty-id',
    attacks: "id='': an empty id is no id",
    via: 'session',
    build: (c) =>
      `<message to='${c.bot}' id='' type='chat'><body>${c.marker} empty id</body></message>`,
    expect: { bot: 'message' },
  },
  {
    name: 'message-id-4000-characters',
    attacks: 'a 4,000-character stanza id (XMPP sets no limit; the host keeps remote ids to 512)',
    via: 'session',
    build: (c) =>
      `<message to='${c.bot}' id='${c.id}-${'x'.repeat(4000)}' type='chat'><body>${c.marker} long id</body></message>`,
    // The host refuses the event (remoteId over 512), the plugin bounces the message.
    expect: { bot: 'nothing', log: WIRE_INVALID, reply: 'error' },
  },
  {
    name: 'message-type-uppercase',
    attacks: "type='CHAT': types are case-sensitive, so this is an unknown type, hence normal",
    via: 'session',
    build: (c) => message(c, "type='CHAT'", `<body>${c.marker} upper</body>`),
    expect: { bot: 'message' },
  },
  {
    name: 'message-type-error-without-condition',
    attacks: 'an error message whose <error/> names no condition',
    via: 'session',
    build: (c) => message(c, "type='error'", "<error type='cancel'/>"),
    expect: { bot: 'nothing' },
  },
  {
    name: 'message-type-error-with-body',
    attacks: 'an error message carrying a body: never delivered as a message, never answered',
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='error'",
        `<body>${c.marker} error body</body><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>${'t'.repeat(3000)}</text></error>`,
      ),
    expect: { bot: 'nothing' },
  },
  {
    name: 'message-type-headline',
    attacks: 'a headline (Prosody delivers it to the account): not a conversation',
    via: 'session',
    build: (c) => message(c, "type='headline'", `<body>${c.marker} headline</body>`),
    expect: { bot: 'nothing' },
  },
  {
    name: 'message-type-groupchat-to-bare-jid',
    attacks: 'groupchat to an account, not a room (Prosody bounces it)',
    via: 'session',
    build: (c) => message(c, "type='groupchat'", `<body>${c.marker} groupchat</body>`),
    expect: { bot: 'nothing', reply: 'error' },
  },
  {
    name: 'message-type-groupchat-to-full-jid',
    attacks: "groupchat to Parley's session itself: Prosody delivers it, Parley must ignore it",
    via: 'session',
    build: (c) => message(c, "type='groupchat'", `<body>${c.marker} groupchat</body>`, c.botFull),
    expect: { bot: 'nothing' },
  },
  {
    name: 'message-to-unknown-resource',
    attacks: "chat to a resource Parley never bound (Prosody delivers it to the account's session)",
    via: 'session',
    build: (c) =>
      message(c, "type='chat'", `<body>${c.marker} wrong resource</body>`, `${c.bot}/nobody`),
    expect: { bot: 'message' },
  },
  {
    name: 'message-to-uppercase-jid',
    attacks: "the identity's JID in capitals (Prosody nodepreps it)",
    via: 'session',
    build: (c) => message(c, "type='chat'", `<body>${c.marker} caps</body>`, c.bot.toUpperCase()),
    expect: { bot: 'message' },
  },
  {
    name: 'message-to-malformed-jid',
    attacks: "a 'to' that is no JID (a@b@c): Prosody refuses it with jid-malformed",
    via: 'session',
    build: (c) => message(c, "type='chat'", `<body>${c.marker} bad to</body>`, 'a@b@c'),
    expect: { bot: 'nothing', reply: 'error' },
  },
  {
    name: 'message-from-spoofed',
    attacks: "a 'from' naming Parley's own account: Prosody stamps the real sender",
    via: 'session',
    build: (c) =>
      `<message to='${c.bot}' from='${c.bot}' id='${c.id}' type='chat'><body>${c.marker} spoofed</body></message>`,
    expect: { bot: 'message' },
  },
  {
    name: 'message-attributes-named-like-object-properties',
    attacks:
      'attributes named __proto__, constructor, hasOwnProperty and toString on the stanza and body',
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat' __proto__='x' constructor='y' hasOwnProperty='z' toString='w'",
        `<body __proto__='{}' valueOf='1'>${c.marker} proto</body>`,
      ),
    expect: { bot: 'message' },
  },
  {
    name: 'message-body-foreign-namespace',
    attacks: "a <body/> in a namespace that is not jabber:client's",
    via: 'session',
    build: (c) => message(c, "type='chat'", `<body xmlns='urn:example:evil'>${c.marker} ns</body>`),
    // Taken as the body (the plugin matches <body/> by name): harmless, noted in the report.
    expect: { bot: 'message' },
  },
  {
    name: 'message-body-cdata',
    attacks: 'a body in a CDATA section holding markup',
    via: 'session',
    build: (c) =>
      message(c, "type='chat'", `<body><![CDATA[${c.marker} <b>bold</b> & <script>]]></body>`),
    expect: { bot: 'message', text: '[corpus:message-body-cdata] <b>bold</b> & <script>' },
  },
  {
    name: 'message-body-escaped-markup',
    attacks: 'escaped markup, quotes and ampersands in the body',
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat'",
        `<body>${c.marker} &lt;img src=x onerror=alert(1)&gt; &amp;amp; &quot;&apos;</body>`,
      ),
    expect: {
      bot: 'message',
      text: `[corpus:message-body-escaped-markup] <img src=x onerror=alert(1)> &amp; "'`,
    },
  },
  {
    name: 'message-body-astral-and-noncharacters',
    attacks: 'character references to astral planes and noncharacters (valid XML)',
    via: 'session',
    build: (c) => message(c, "type='chat'", `<body>${c.marker} &#x1F600;&#xFDD0;&#x10FFFD;</body>`),
    expect: {
      bot: 'message',
      text: '[corpus:message-body-astral-and-noncharacters] \u{1F600}\uFDD0\u{10FFFD}',
    },
  },
  {
    name: 'message-body-bidi-and-combining',
    attacks: 'bidi overrides, zero-width joiners and 2,000 combining marks on one letter',
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat'",
        `<body>${c.marker} \u202Eevil\u202C \u200D\u200B a${'\u0301'.repeat(2000)}</body>`,
      ),
    expect: { bot: 'message' },
  },
  {
    name: 'message-body-whitespace-only',
    attacks: 'a body of spaces, tabs and newlines only',
    via: 'session',
    build: (c) => message(c, "type='chat'", '<body> \t\n \n\t </body>'),
    expect: { bot: 'message', text: ' \t\n \n\t ' },
  },
  {
    name: 'message-bodies-all-with-xml-lang',
    attacks: 'several bodies, each with its own xml:lang and none without',
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat' xml:lang='en'",
        `<body xml:lang='de'>${c.marker} de</body><body xml:lang='fr'>fr</body><body xml:lang='x-klingon'>tlh</body>`,
      ),
    expect: { bot: 'message', text: '[corpus:message-bodies-all-with-xml-lang] de' },
  },
  {
    name: 'message-xml-lang-empty-and-invalid',
    attacks: "xml:lang='' on the body and a language tag that is no tag on the message",
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat' xml:lang='!! not a tag !!'",
        `<body xml:lang='de'>de</body><body xml:lang=''>${c.marker} empty lang</body>`,
      ),
    expect: { bot: 'message', text: '[corpus:message-xml-lang-empty-and-invalid] empty lang' },
  },
  {
    name: 'message-body-at-host-limit',
    attacks: `a body of exactly ${MAX_TEXT} characters (the host's limit for message text)`,
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat'",
        `<body>${c.marker}${'a'.repeat(MAX_TEXT - c.marker.length)}</body>`,
      ),
    expect: { bot: 'message' },
  },
  {
    name: 'message-body-over-host-limit',
    attacks: `a body of ${MAX_TEXT + 1} characters, one over the host's limit`,
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat'",
        `<body>${c.marker}${'a'.repeat(MAX_TEXT + 1 - c.marker.length)}</body>`,
      ),
    // Refused by the host and bounced to the sender, never silently lost.
    expect: { bot: 'nothing', log: WIRE_INVALID, reply: 'error' },
  },
  {
    name: 'message-body-200-kilobytes',
    attacks: "a 200 kB body, under Prosody's 256 KiB stanza limit",
    via: 'session',
    build: (c) => message(c, "type='chat'", `<body>${c.marker}${'ü'.repeat(100_000)}</body>`),
    expect: { bot: 'nothing', log: WIRE_INVALID, reply: 'error' },
  },
  {
    name: 'message-thread-600-characters',
    attacks: 'a 600-character <thread/> (XMPP sets no limit; the host keeps threads to 512)',
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat'",
        `<body>${c.marker} thread</body><thread>${'t'.repeat(600)}</thread>`,
      ),
    // The whole message is refused for its thread and bounced (noted in the report).
    expect: { bot: 'nothing', log: WIRE_INVALID, reply: 'error' },
  },
  {
    name: 'message-thread-empty',
    attacks: 'an empty <thread/> and a thread with a parent attribute that is markup',
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat'",
        `<body>${c.marker} empty thread</body><thread parent='&lt;x&gt;'/><thread/>`,
      ),
    expect: { bot: 'message' },
  },
  {
    name: 'message-500-unknown-children',
    attacks: '500 extension elements in unknown namespaces next to the body',
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat'",
        `${Array.from({ length: 500 }, (_, i) => `<x${i} xmlns='urn:example:${i}' a='${i}'>${i}</x${i}>`).join('')}<body>${c.marker} after 500</body>`,
      ),
    expect: { bot: 'message' },
  },
  {
    name: 'message-nested-1000-deep',
    attacks: 'an extension element nested 1,000 deep next to the body',
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat'",
        `<body>${c.marker} deep</body><x xmlns='urn:x'>${nested(1000)}</x>`,
      ),
    expect: { bot: 'message' },
  },
  {
    name: 'message-nested-12000-deep',
    attacks: 'an extension nested 12,000 deep (84 kB): deeper than recursive code survives',
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat'",
        `<body>${c.marker} deeper</body><x xmlns='urn:x'>${nested(12_000)}</x>`,
      ),
    expect: { bot: 'message' },
  },
  {
    name: 'message-delay-year-zero',
    attacks: 'a XEP-0203 delay stamped in year 0',
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat'",
        `<body>${c.marker} year 0</body><delay xmlns='urn:xmpp:delay' stamp='0000-01-01T00:00:00Z'/>`,
      ),
    expect: { bot: 'message' },
  },
  {
    name: 'message-delay-end-of-time',
    attacks: "a delay stamped on the last day JavaScript's Date can hold (+275760)",
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat'",
        `<body>${c.marker} end of time</body><delay xmlns='urn:xmpp:delay' stamp='+275760-09-13T00:00:00Z'/>`,
      ),
    expect: { bot: 'message' },
  },
  {
    name: 'message-delay-stamp-10000-characters',
    attacks: 'a 10,000-character delay stamp and a second delay without one',
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat'",
        `<body>${c.marker} long stamp</body><delay xmlns='urn:xmpp:delay' stamp='${'9'.repeat(10_000)}'/><delay xmlns='urn:xmpp:delay'/>`,
      ),
    expect: { bot: 'message' },
  },
  {
    name: 'message-receipt-for-2000-character-id',
    attacks: 'a XEP-0184 receipt about a 2,000-character id (the host keeps ids to 512)',
    via: 'session',
    build: (c) => message(c, '', `<received xmlns='urn:xmpp:receipts' id='${'r'.repeat(2000)}'/>`),
    expect: { bot: 'nothing', log: WIRE_INVALID },
  },
  {
    name: 'message-receipt-request-without-id',
    attacks: 'a receipt request on a message that has no id to acknowledge',
    via: 'session',
    build: (c) =>
      `<message to='${c.bot}' type='chat'><body>${c.marker} receipt?</body><request xmlns='urn:xmpp:receipts'/></message>`,
    expect: { bot: 'message' },
  },
  {
    name: 'message-chat-state-and-marker-without-body',
    attacks: 'a chat state, a displayed marker without id and a receipt request, and no body',
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat'",
        "<composing xmlns='http://jabber.org/protocol/chatstates'/><displayed xmlns='urn:xmpp:chat-markers:0'/><request xmlns='urn:xmpp:receipts'/>",
      ),
    // A typing event at most; never a message.
    expect: { bot: 'nothing' },
  },
  {
    name: 'message-invalid-roster-like-payload',
    attacks: 'a roster query with malformed item JIDs smuggled into a message',
    via: 'session',
    build: (c) =>
      message(
        c,
        "type='chat'",
        `<body>${c.marker} roster inside</body><query xmlns='jabber:iq:roster'><item jid='a@@b' subscription='both'/><item jid='' ask='subscribe'/></query>`,
      ),
    expect: { bot: 'message' },
  },
]

/** Log expectations re-exported for the other files of the corpus. */
export { WIRE_INVALID, WIRE_INVALID_WITH_ID }
