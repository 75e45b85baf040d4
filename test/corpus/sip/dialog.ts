/**
 * SIP corpus: NOTIFYs inside a real presence subscription. Parley watches
 * `mallory@rogue.test` (a federation peer the edge routes to directly); the
 * peer accepted, and now sends what it likes in the dialog: PIDF with XXE
 * and entity-expansion attempts, documents too deep or too big, odd
 * Subscription-State and Content-Type values. The edge answers every NOTIFY
 * of a known dialog 200 and logs an unusable document with
 * PARLEY_ERR_WIRE_INVALID (`unusable presence document ignored`).
 *
 * Replayed in order on one dialog; `terminated` comes last (dialog.test
 * order is the array order).
 */
import { dialogNotify, headThenBody, PIDF_NS, pidf, type SipCase } from './case.js'

const UNUSABLE = {
  code: 'PARLEY_ERR_WIRE_INVALID',
  msg: 'unusable presence document ignored',
} as const

/** The entity every document names (the watched URI). */
const ENTITY = 'sip:mallory@rogue.test'

const notify = (
  name: string,
  attacks: string,
  body: string | Buffer,
  options: { contentType?: string | null; state?: string | null; unusable?: boolean } = {},
): SipCase => ({
  name,
  attacks,
  via: 'dialog',
  build: (c) => {
    const bytes = dialogNotify(c, {
      body,
      ...(options.contentType !== undefined && { contentType: options.contentType }),
      ...(options.state !== undefined && { state: options.state }),
    })
    return bytes.length > 50_000 ? headThenBody(bytes) : bytes
  },
  pauseMs: 30,
  expect: { answer: 200, ...((options.unusable ?? true) && { log: UNUSABLE }) },
})

/** A PIDF document around `inner` (inside <presence/>), after `prolog`. */
const doc = (prolog: string, inner: string, attrs = '') =>
  `<?xml version="1.0" encoding="UTF-8"?>${prolog}<presence xmlns="${PIDF_NS}" entity="${ENTITY}"${attrs}><tuple id="t"><status><basic>open</basic></status></tuple>${inner}</presence>`

/** The note of the valid document sent last: the dialog must still carry it. */
export const FINAL_NOTE = 'still watching after the corpus'

export const dialogCases: SipCase[] = [
  notify(
    'pidf-xxe-etc-passwd',
    'an external entity reading /etc/passwd into the note (XXE)',
    doc('<!DOCTYPE presence [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', '<note>&xxe;</note>'),
  ),
  notify(
    'pidf-xxe-parameter-entity',
    'an external parameter entity (blind XXE out-of-band)',
    doc(
      '<!DOCTYPE presence [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/evil.dtd"> %ext;]>',
      '<note>oob</note>',
    ),
  ),
  notify(
    'pidf-doctype-lowercase',
    'a lower-case <!doctype> with an internal entity',
    doc('<!doctype presence [<!ENTITY n "injected">]>', '<note>&n;</note>'),
  ),
  notify(
    'pidf-doctype-after-comment',
    'a DOCTYPE hidden after a comment and whitespace',
    doc('<!-- hello -->\n\n<!DOCTYPE presence SYSTEM "file:///etc/passwd">', '<note>x</note>'),
  ),
  notify(
    'pidf-entity-without-doctype',
    'an ENTITY declaration outside any DOCTYPE',
    doc('<!ENTITY xxe SYSTEM "file:///etc/passwd">', '<note>&xxe;</note>'),
  ),
  notify(
    'pidf-quadratic-blowup',
    'one 3,000-character entity referenced 1,000 times (quadratic blowup)',
    doc(
      `<!DOCTYPE presence [<!ENTITY a "${'a'.repeat(3000)}">]>`,
      `<note>${'&a;'.repeat(1000)}</note>`,
    ),
  ),
  notify(
    'pidf-billion-laughs',
    'nested entity expansion (billion laughs), nine levels',
    doc(
      `<!DOCTYPE presence [<!ENTITY l0 "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY l${i + 1} "${`&l${i};`.repeat(10)}">`).join('')}]>`,
      '<note>&l9;</note>',
    ),
  ),
  notify(
    'pidf-xinclude-etc-passwd',
    'an XInclude of /etc/passwd as text (no DTD needed)',
    doc(
      '',
      '<note><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/></note>',
    ),
    // Well-formed PIDF: the XInclude element is just an unknown element (never followed).
    { unusable: false },
  ),
  notify(
    'pidf-utf16-with-doctype',
    'a UTF-16 document (BOM) declaring an external entity',
    Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from(
        doc('<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>', '<note>&x;</note>'),
        'utf16le',
      ),
    ]),
  ),
  notify(
    'pidf-character-reference-to-control',
    'a note with &#x1; (a reference to a character XML forbids)',
    doc('', '<note>a&#x1;b</note>'),
  ),
  notify(
    'pidf-nested-10000-deep',
    'a PIDF extension nested 10,000 deep',
    doc('', `<x xmlns="urn:x">${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}</x>`),
  ),
  notify(
    'pidf-70-kilobytes',
    'a 70 kB PIDF document (over the 64 KiB the reader takes)',
    doc('', `<note>${'n'.repeat(70_000)}</note>`),
  ),
  notify(
    'pidf-2000-tuples',
    '2,000 tuples, open and closed',
    doc(
      '',
      Array.from(
        { length: 2000 },
        (_, i) =>
          `<tuple id="t${i}"><status><basic>${i % 2 ? 'open' : 'closed'}</basic></status></tuple>`,
      ).join(''),
    ),
    { unusable: false },
  ),
  notify(
    'pidf-note-60-kilobytes',
    'a 60 kB note (the status kept is cut to 1,024 characters)',
    doc('', `<note>${'\u{1F47B}'.repeat(15_000)}</note>`),
    { unusable: false },
  ),
  notify(
    'pidf-two-roots',
    'two <presence/> roots one after the other',
    `${pidf(ENTITY, 'open')}${pidf(ENTITY, 'closed')}`,
  ),
  notify(
    'pidf-cdata-with-doctype-text',
    "a CDATA note whose text is '<!DOCTYPE' (refused with the real DTDs: stricter than needed)",
    doc('', '<note><![CDATA[<!DOCTYPE is just text here]]></note>'),
  ),
  notify(
    'pidf-prefix-redefined',
    'the PIDF namespace bound to a prefix, and the default namespace to another',
    `<p:presence xmlns:p="${PIDF_NS}" xmlns="urn:example:other" entity="${ENTITY}"><p:tuple id="t"><p:status><p:basic>open</p:basic></p:status></p:tuple><note>not pidf's note</note></p:presence>`,
    { unusable: false },
  ),
  notify(
    'pidf-json-labelled-pidf',
    'a JSON body labelled application/pidf+xml',
    '{"presence":{"basic":"open","note":"json"}}',
  ),
  notify(
    'pidf-content-type-with-charset-utf16',
    "Content-Type 'application/pidf+xml; charset=utf-16' on a UTF-8 body",
    pidf(ENTITY, 'open', 'charset says 16'),
    { contentType: 'application/pidf+xml; charset=utf-16', unusable: false },
  ),
  notify(
    'notify-state-expires-negative',
    "Subscription-State 'active;expires=-5'",
    pidf(ENTITY, 'open', 'negative expires'),
    { state: 'active;expires=-5', unusable: false },
  ),
  notify(
    'notify-state-garbage',
    'Subscription-State of 2,000 semicolons and equals signs',
    pidf(ENTITY, 'open', 'garbage state'),
    { state: ';='.repeat(1000), unusable: false },
  ),
  notify(
    'notify-entity-someone-else',
    "a valid document about someone else's entity (attributed to the dialog's peer anyway)",
    pidf('sip:ceo@corp.example', 'open', 'not me'),
    { unusable: false },
  ),
  {
    name: 'notify-valid-after-the-corpus',
    attacks: 'the control: a valid document after all the above (the dialog must still work)',
    via: 'dialog',
    build: (c) => dialogNotify(c, { body: pidf(ENTITY, 'open', FINAL_NOTE) }),
    expect: { answer: 200 },
  },
]
