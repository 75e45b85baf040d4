/**
 * XMPP corpus: bytes that are not a well-formed stanza (invalid UTF-8,
 * control characters, surrogates, DTDs and entities, comments, processing
 * instructions, oversized stanzas, namespace tricks), and odd sessions (a
 * strange resource or stream language). Each is written on a session of its
 * own: Prosody must end the sender's stream for the broken ones, and Parley
 * must never see a thing of them. See case.ts.
 */
import type { XmppCase, XmppCaseContext } from './case.js'

/** A chat message whose body is `before`, then `bytes`, then `after`. */
const withBytes = (c: XmppCaseContext, bytes: number[]) =>
  Buffer.concat([
    Buffer.from(`<message to='${c.bot}' id='${c.id}' type='chat'><body>${c.marker} `),
    Buffer.from(bytes),
    Buffer.from('</body></message>'),
  ])

const chat = (c: XmppCaseContext, body: string) =>
  `<message to='${c.bot}' id='${c.id}' type='chat'><body>${c.marker} ${body}</body></message>`

const notWellFormed = { bot: 'nothing', reply: { streamError: 'not-well-formed' } } as const

/** A broken stanza: Prosody must end the sender's stream with not-well-formed. */
const broken = (name: string, attacks: string, build: XmppCase['build']): XmppCase => ({
  name,
  attacks,
  via: 'fresh',
  build,
  expect: notWellFormed,
})

export const streamCases: XmppCase[] = [
  broken('body-control-character-reference', 'a body with &#x1; (not an XML 1.0 character)', (c) =>
    chat(c, 'a&#x1;b'),
  ),
  broken('body-raw-control-byte', 'a body with a raw 0x01 byte', (c) => withBytes(c, [0x61, 0x01])),
  broken('body-invalid-utf8', 'a body with bytes 0xFF 0xFE (never valid UTF-8)', (c) =>
    withBytes(c, [0xff, 0xfe]),
  ),
  broken(
    'body-utf8-encoded-surrogate',
    'a body with ED A0 80 (a surrogate encoded as UTF-8)',
    (c) => withBytes(c, [0xed, 0xa0, 0x80]),
  ),
  broken('body-overlong-utf8', "a body with C0 BC (an overlong '<')", (c) =>
    withBytes(c, [0xc0, 0xbc]),
  ),
  broken('body-truncated-utf8', 'a body ending in half a multi-byte character', (c) =>
    withBytes(c, [0xe2, 0x82]),
  ),
  broken('body-surrogate-reference', 'a body with &#xD800; (a lone surrogate)', (c) =>
    chat(c, 'a&#xD800;b'),
  ),
  broken('body-fffe-reference', 'a body with &#xFFFE; (not an XML character)', (c) =>
    chat(c, 'a&#xFFFE;b'),
  ),
  broken(
    'doctype-billion-laughs',
    'a DTD with nested entities (billion laughs) before a message using them',
    (c) =>
      `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>${chat(c, '&lol3;')}`,
  ),
  broken(
    'doctype-external-entity',
    'an external entity pointing at /etc/passwd (XXE)',
    (c) => `<!DOCTYPE message [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${chat(c, '&xxe;')}`,
  ),
  broken('undeclared-entity', 'an entity reference nobody declared', (c) => chat(c, '&xxe;')),
  broken(
    'processing-instruction',
    'a processing instruction between stanzas',
    (c) => `<?evil payload?>${chat(c, 'pi')}`,
  ),
  broken(
    'comment-between-stanzas',
    'an XML comment between stanzas (restricted XML)',
    (c) => `<!-- hello -->${chat(c, 'comment')}`,
  ),
  broken('comment-inside-body', 'an XML comment inside a body', (c) => chat(c, 'a<!-- x -->b')),
  broken(
    'duplicate-attribute',
    "the same 'to' attribute twice",
    (c) =>
      `<message to='${c.bot}' to='someone@else' id='${c.id}' type='chat'><body>${c.marker}</body></message>`,
  ),
  broken(
    'undeclared-prefix',
    'a stanza name with an undeclared namespace prefix',
    (c) => `<x:message to='${c.bot}' id='${c.id}' type='chat'><body>${c.marker}</body></x:message>`,
  ),
  broken(
    'mismatched-end-tag',
    'an end tag that does not match',
    (c) => `<message to='${c.bot}' id='${c.id}' type='chat'><body>${c.marker}</bod></message>`,
  ),
  {
    name: 'stanza-over-prosody-limit',
    attacks: "a 300 kB message, over Prosody's 256 KiB stanza limit",
    via: 'fresh',
    build: (c) => chat(c, 'x'.repeat(300_000)),
    expect: { bot: 'nothing', reply: { streamError: 'policy-violation' } },
  },
  {
    name: 'unknown-top-level-element',
    attacks: 'an element that is no stanza at the top of the stream',
    via: 'fresh',
    build: () => "<foo xmlns='jabber:client'><bar/></foo>",
    expect: { bot: 'nothing', reply: { streamError: 'unsupported-stanza-type' } },
  },
  {
    name: 'message-in-server-namespace',
    attacks: 'a message in the jabber:server namespace on a client stream',
    via: 'fresh',
    build: (c) =>
      `<message xmlns='jabber:server' to='${c.bot}' id='${c.id}' type='chat'><body>${c.marker}</body></message>`,
    expect: { bot: 'nothing', reply: { streamError: 'unsupported-stanza-type' } },
  },
  {
    name: 'sender-resource-with-spaces-and-bidi',
    attacks: 'a message from a resource with spaces, a bidi override and an emoji',
    via: 'fresh',
    resource: '  my \u202Eresource\u202C \u{1F47B} ',
    build: (c) => chat(c, 'odd resource'),
    expect: { bot: 'message' },
  },
  {
    name: 'sender-resource-with-slash-and-at',
    attacks: "a message from a resource holding '/' and '@' (legal in a resource)",
    via: 'fresh',
    resource: 'a/b@c/d',
    build: (c) => chat(c, 'slashed resource'),
    expect: { bot: 'message' },
  },
  {
    name: 'sender-resource-1000-bytes',
    attacks: 'a message from a 1,000-byte resource',
    via: 'fresh',
    resource: 'r'.repeat(1000),
    build: (c) => chat(c, 'long resource'),
    expect: { bot: 'message' },
  },
  {
    name: 'sender-stream-lang-invalid',
    attacks: "a sender whose stream says xml:lang='!! not a tag' (Prosody copies it onto stanzas)",
    via: 'fresh',
    lang: '!! not a tag',
    build: (c) => chat(c, 'odd stream language'),
    expect: { bot: 'message' },
  },
]
