/**
 * XMPP corpus: `<presence/>` (directed presence with bogus show, priority,
 * status; subscription stanzas with odd types) and `<iq/>` (unknown types,
 * roster pushes from a non-server JID, deep payloads the client library
 * echoes) a remote user can make Prosody deliver to Parley. Written on the
 * sender's own session. See case.ts.
 */
import { nested, type XmppCase, type XmppCaseContext } from './case.js'
import { WIRE_INVALID, WIRE_INVALID_WITH_ID } from './messages.js'

const presence = (c: XmppCaseContext, attrs: string, inner = '', to = c.bot) =>
  `<presence to='${to}' id='${c.id}' ${attrs}>${inner}</presence>`

const iq = (c: XmppCaseContext, attrs: string, inner: string, to = c.botFull) =>
  `<iq to='${to}' id='${c.id}' ${attrs}>${inner}</iq>`

/** Directed presence with one odd <priority/>: clamped or ignored, never fatal. */
const priority = (name: string, value: string, attacks: string): XmppCase => ({
  name,
  attacks,
  via: 'session',
  build: (c) => presence(c, '', `<show>away</show><priority>${value}</priority>`),
  expect: { bot: 'any' },
})

export const presenceCases: XmppCase[] = [
  {
    name: 'presence-show-empty',
    attacks: 'an empty <show/> element',
    via: 'session',
    build: (c) => presence(c, '', '<show/>'),
    expect: { bot: 'any' },
  },
  {
    name: 'presence-show-padded',
    attacks: 'a show value wrapped in newlines and spaces',
    via: 'session',
    build: (c) => presence(c, '', '<show>\n   xa \n</show>'),
    expect: { bot: 'any' },
  },
  {
    name: 'presence-show-uppercase',
    attacks: "show 'DND': values are case-sensitive, so an unknown show",
    via: 'session',
    build: (c) => presence(c, '', '<show>DND</show>'),
    expect: { bot: 'any', log: WIRE_INVALID },
  },
  {
    name: 'presence-two-shows',
    attacks: 'two <show/> elements that disagree',
    via: 'session',
    build: (c) => presence(c, '', '<show>dnd</show><show>chat</show>'),
    expect: { bot: 'any' },
  },
  {
    name: 'presence-show-10000-characters',
    attacks: 'a 10,000-character unknown show value',
    via: 'session',
    build: (c) => presence(c, '', `<show>${'s'.repeat(10_000)}</show>`),
    expect: { bot: 'any', log: WIRE_INVALID },
  },
  priority('presence-priority-above-range', '128', 'priority 128 (RFC 6121: -128..127)'),
  priority('presence-priority-below-range', '-129', 'priority -129'),
  priority('presence-priority-huge', '99999999999999999999999', 'a 23-digit priority'),
  priority('presence-priority-fraction', '1.5', 'a fractional priority'),
  priority('presence-priority-hex', '0x7f', 'a hexadecimal priority'),
  priority('presence-priority-empty', '', 'an empty priority'),
  priority('presence-priority-padded-sign', ' +5 ', 'a priority with spaces and a plus sign'),
  priority('presence-priority-nan', 'NaN', "priority 'NaN'"),
  {
    name: 'presence-status-5000-characters',
    attacks: 'a 5,000-character status (XMPP sets no limit; the host keeps 4,096)',
    via: 'session',
    build: (c) => presence(c, '', `<status>${'z'.repeat(5000)}</status>`),
    expect: { bot: 'any', log: WIRE_INVALID },
  },
  {
    name: 'presence-status-bidi-and-markup',
    attacks: 'a status with bidi overrides, escaped markup and an astral character',
    via: 'session',
    build: (c) =>
      presence(c, '', `<status>\u202Egnp.exe &lt;script&gt; &#x1F47B;</status><show>chat</show>`),
    expect: { bot: 'any' },
  },
  {
    name: 'presence-type-uppercase',
    attacks: "presence type 'Unavailable' (Prosody refuses it)",
    via: 'session',
    build: (c) => presence(c, "type='Unavailable'"),
    expect: { bot: 'any', reply: 'error' },
  },
  {
    name: 'presence-type-probe',
    attacks: 'a presence probe to the account (Prosody answers probes itself)',
    via: 'session',
    build: (c) => presence(c, "type='probe'"),
    expect: { bot: 'any' },
  },
  {
    name: 'presence-type-error-without-child',
    attacks: 'a presence error with no <error/> element',
    via: 'session',
    build: (c) => presence(c, "type='error'"),
    expect: { bot: 'any' },
  },
  {
    name: 'presence-type-error-with-condition',
    attacks: 'a presence error naming a condition in an unknown namespace',
    via: 'session',
    build: (c) =>
      presence(c, "type='error'", "<error type='cancel'><boom xmlns='urn:example:x'/></error>"),
    expect: { bot: 'any' },
  },
  {
    name: 'presence-unavailable-never-available',
    attacks: 'unavailable from a resource that never said it was available',
    via: 'session',
    build: (c) => presence(c, "type='unavailable'", '<status>gone</status>'),
    expect: { bot: 'any' },
  },
  {
    name: 'presence-delay-garbage',
    attacks: 'a presence delay stamp that is no date',
    via: 'session',
    build: (c) => presence(c, '', "<delay xmlns='urn:xmpp:delay' stamp='the day after tomorrow'/>"),
    expect: { bot: 'any' },
  },
  {
    name: 'presence-muc-items-with-bad-jids',
    attacks: 'MUC user items with malformed JIDs and an owner affiliation',
    via: 'session',
    build: (c) =>
      presence(
        c,
        '',
        "<x xmlns='http://jabber.org/protocol/muc#user'><item jid='a@@b/c' affiliation='owner' role='moderator'/><status code='110'/></x>",
      ),
    expect: { bot: 'any' },
  },
  {
    name: 'presence-caps-garbage',
    attacks: 'entity capabilities with a path-like node and an unknown hash',
    via: 'session',
    build: (c) =>
      presence(
        c,
        '',
        "<c xmlns='http://jabber.org/protocol/caps' hash='md5' node='../../../etc/passwd' ver='javascript:alert(1)'/>",
      ),
    expect: { bot: 'any' },
  },
  {
    name: 'presence-burst-200',
    attacks: '200 directed presences in one write, alternating show values',
    via: 'session',
    build: (c) =>
      Array.from(
        { length: 200 },
        (_, i) =>
          `<presence to='${c.bot}' id='${c.id}-${i}'><show>${['away', 'dnd', 'xa', 'chat'][i % 4]}</show><priority>${i % 128}</priority></presence>`,
      ).join(''),
    expect: { bot: 'any' },
  },
  {
    name: 'subscribe-with-10000-character-status-and-nick',
    attacks: 'a subscription request carrying a 10,000-character status and nickname',
    via: 'session',
    build: (c) =>
      presence(
        c,
        "type='subscribe'",
        `<status>${'s'.repeat(10_000)}</status><nick xmlns='http://jabber.org/protocol/nick'>${'n'.repeat(10_000)}</nick>`,
      ),
    expect: { bot: 'any' },
  },
  {
    name: 'subscribe-to-full-jid',
    attacks: "a subscription request addressed to Parley's session instead of its account",
    via: 'session',
    build: (c) => presence(c, "type='subscribe'", '', c.botFull),
    expect: { bot: 'any' },
  },
  {
    name: 'subscribe-repeated-20-times',
    attacks: 'the same subscription request 20 times with the same id',
    via: 'session',
    build: (c) => presence(c, "type='subscribe'").repeat(20),
    expect: { bot: 'any' },
  },
  {
    name: 'subscribed-never-asked',
    attacks: 'an approval of a subscription Parley never asked for',
    via: 'session',
    build: (c) => presence(c, "type='subscribed'"),
    expect: { bot: 'any' },
  },
  {
    name: 'unsubscribed-without-subscription',
    attacks: 'a refusal of a subscription that does not exist',
    via: 'session',
    build: (c) => presence(c, "type='unsubscribed'"),
    expect: { bot: 'any' },
  },
  {
    name: 'unsubscribe-without-subscription',
    attacks: 'an unsubscribe from someone who was never subscribed',
    via: 'session',
    build: (c) => presence(c, "type='unsubscribe'"),
    expect: { bot: 'any' },
  },
  {
    name: 'subscription-type-capitalised',
    attacks: "presence type 'Subscribe' (Prosody refuses it)",
    via: 'session',
    build: (c) => presence(c, "type='Subscribe'"),
    expect: { bot: 'any', reply: 'error' },
  },
]

export const iqCases: XmppCase[] = [
  {
    name: 'iq-without-type',
    attacks: "an iq to Parley's session with no type (Prosody refuses it)",
    via: 'session',
    build: (c) => iq(c, '', "<ping xmlns='urn:xmpp:ping'/>"),
    expect: { bot: 'nothing', reply: 'error' },
  },
  {
    name: 'iq-unknown-type-to-session',
    attacks: "an iq of type 'fetch' to Parley's session",
    via: 'session',
    build: (c) => iq(c, "type='fetch'", "<ping xmlns='urn:xmpp:ping'/>"),
    expect: { bot: 'nothing', reply: 'error' },
  },
  {
    name: 'iq-ping-with-odd-attributes',
    attacks: 'a ping carrying xml:lang, unknown attributes and whitespace',
    via: 'session',
    build: (c) =>
      iq(
        c,
        "type='get' xml:lang='zz' foo='&lt;bar&gt;'",
        "\n  <ping xmlns='urn:xmpp:ping' x='y'/>\n",
      ),
    expect: { bot: 'nothing', reply: 'result' },
  },
  {
    name: 'iq-get-disco-info',
    attacks: "a disco#info query to Parley's session (nothing answers it but the library)",
    via: 'session',
    build: (c) => iq(c, "type='get'", "<query xmlns='http://jabber.org/protocol/disco#info'/>"),
    expect: { bot: 'nothing', reply: 'error' },
  },
  {
    name: 'iq-set-bind-to-session',
    attacks: "a resource-binding request sent to Parley's session by another user",
    via: 'session',
    build: (c) =>
      iq(
        c,
        "type='set'",
        "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>hijack</resource></bind>",
      ),
    expect: { bot: 'nothing', reply: 'error' },
  },
  {
    name: 'iq-get-nested-1000-deep',
    attacks: 'an unknown query nested 1,000 deep (the library echoes the query in its error)',
    via: 'session',
    build: (c) => iq(c, "type='get'", `<q xmlns='urn:example:q'>${nested(1000)}</q>`),
    expect: { bot: 'nothing', reply: 'error' },
  },
  {
    name: 'iq-get-nested-12000-deep',
    attacks: 'an unknown query nested 12,000 deep: echoing it needs a recursive serializer',
    via: 'session',
    build: (c) => iq(c, "type='get'", `<q xmlns='urn:example:q'>${nested(12_000)}</q>`),
    // @xmpp/client's error answer echoes the query and overflows the stack while
    // serialising it: the error is caught and logged ('xmpp connection error'),
    // the session lives on, but the iq is never answered (see the report).
    expect: { bot: 'nothing' },
  },
  {
    name: 'iq-result-unsolicited',
    attacks: 'a result with a payload that answers nothing Parley asked',
    via: 'session',
    build: (c) =>
      iq(
        c,
        "type='result'",
        "<query xmlns='jabber:iq:roster'><item jid='evil@x' subscription='both'/></query>",
      ),
    expect: { bot: 'nothing' },
  },
  {
    name: 'iq-error-unsolicited',
    attacks: 'an error answering nothing, with garbage inside <error/>',
    via: 'session',
    build: (c) =>
      iq(c, "type='error'", `<error type='wait'><x xmlns='urn:x'>${nested(50)}</x></error>`),
    expect: { bot: 'nothing' },
  },
  {
    name: 'iq-roster-push-claiming-to-be-the-account',
    attacks: "a roster push whose 'from' claims Parley's own account (Prosody stamps the sender)",
    via: 'session',
    build: (c) =>
      `<iq to='${c.botFull}' from='${c.bot}' id='${c.id}' type='set'><query xmlns='jabber:iq:roster'><item jid='evil@example.org' subscription='both'/></query></iq>`,
    expect: { bot: 'nothing', log: WIRE_INVALID_WITH_ID, reply: 'error' },
  },
  {
    name: 'iq-roster-push-1000-items',
    attacks: 'a roster push from another user with 1,000 items, some with malformed JIDs',
    via: 'session',
    build: (c) =>
      iq(
        c,
        "type='set'",
        `<query xmlns='jabber:iq:roster'>${Array.from({ length: 1000 }, (_, i) => `<item jid='${i % 3 ? `u${i}@example.org` : `bad ${i}@@x`}' subscription='both'/>`).join('')}</query>`,
      ),
    expect: { bot: 'nothing', log: WIRE_INVALID_WITH_ID, reply: 'error' },
  },
  {
    name: 'iq-roster-set-to-bare-jid',
    attacks: "a roster set addressed to Parley's account (Prosody answers for the account)",
    via: 'session',
    build: (c) =>
      iq(c, "type='set'", "<query xmlns='jabber:iq:roster'><item jid='x@y'/></query>", c.bot),
    expect: { bot: 'nothing', reply: 'error' },
  },
]
