import t from 'tap'
import { AVAILABILITIES, type Availability } from '../../../core/contract/index.js'
import {
  buildPidf,
  MAX_PIDF_BYTES,
  MAX_STATUS_LENGTH,
  NS,
  type PidfReading,
  RPID_ACTIVITY,
  readPidf,
} from '../../../plugins/sip/pidf.js'

const ENTITY = 'sip:alice@example.com'

/** A PIDF document with the usual prefixes; `inner` goes inside <presence>. */
function doc(inner: string, entity = ENTITY): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<presence xmlns="${NS.pidf}" xmlns:dm="${NS.dataModel}" xmlns:rpid="${NS.rpid}" entity="${entity}">`,
    inner,
    '</presence>',
  ].join('\n')
}

function tuple(basic: string, extra = '', id = 't1'): string {
  return `<tuple id="${id}"><status><basic>${basic}</basic></status>${extra}</tuple>`
}

function person(inner: string): string {
  return `<dm:person id="p1">${inner}</dm:person>`
}

function activities(...names: string[]): string {
  return `<rpid:activities>${names.map((n) => `<rpid:${n}/>`).join('')}</rpid:activities>`
}

function presence(reading: PidfReading): Extract<PidfReading, { kind: 'presence' }> {
  if (reading.kind !== 'presence') throw new Error(`expected presence, got ${reading.reason}`)
  return reading
}

function read(body: string, contentType?: string) {
  return presence(readPidf(body, contentType))
}

// ------------------------------------------------------------------ basic

t.test('RFC 3863 minimal documents: open, closed', async (t) => {
  t.same(readPidf(doc(tuple('open'))), {
    kind: 'presence',
    entity: ENTITY,
    availability: 'available',
    raw: 'open',
  })
  t.same(readPidf(doc(tuple('closed'))), {
    kind: 'presence',
    entity: ENTITY,
    availability: 'offline',
    raw: 'closed',
  })
  t.equal(read(doc(tuple(' open\n'))).availability, 'available', 'basic is trimmed')
  t.equal(read(doc(tuple('OPEN'))).availability, 'available', 'basic case ignored')
  // The RFC 3863 §4.1 example, verbatim in shape.
  const rfc = `<?xml version="1.0" encoding="UTF-8"?>
     <presence xmlns="urn:ietf:params:xml:ns:pidf"
         xmlns:im="urn:ietf:params:xml:ns:pidf:im"
         xmlns:myex="http://id.example.com/presence/"
         entity="pres:someone@example.com">
       <tuple id="bs35r9">
         <status>
           <basic>open</basic>
           <im:im>busy</im:im>
           <myex:location>home</myex:location>
         </status>
         <contact priority="0.8">im:someone@mobilecarrier.net</contact>
         <note xml:lang="en">Don't Disturb Please!</note>
         <note xml:lang="fr">Ne derangez pas, s'il vous plait</note>
         <timestamp>2001-10-27T16:49:29Z</timestamp>
       </tuple>
       <tuple id="eg92n8">
         <status>
           <basic>open</basic>
         </status>
         <contact priority="1.0">mailto:someone@example.com</contact>
       </tuple>
       <note>I'll be in Tokyo next week</note>
     </presence>`
  t.same(readPidf(rfc), {
    kind: 'presence',
    entity: 'pres:someone@example.com',
    availability: 'available',
    raw: 'open',
    status: "I'll be in Tokyo next week",
  })
})

t.test(
  'a content type other than application/pidf+xml is invalid; parameters and case ignored',
  async (t) => {
    const body = doc(tuple('open'))
    t.equal(readPidf(body, 'application/pidf+xml').kind, 'presence')
    t.equal(readPidf(body, 'Application/PIDF+XML; charset=UTF-8').kind, 'presence')
    t.equal(readPidf(body, '').kind, 'presence', 'no content type: read as PIDF')
    t.equal(readPidf(body, undefined).kind, 'presence')
    for (const type of ['text/plain', 'application/xpidf+xml', 'application/pidf-diff+xml']) {
      const r = readPidf(body, type)
      t.equal(r.kind, 'invalid', type)
      t.match(r, { reason: /content type/ })
    }
  },
)

// -------------------------------------------------------------- activities

t.test('RFC 4480 activities: every row of the mapping table', async (t) => {
  const expected: Record<string, Availability> = {
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
    unknown: 'available',
    other: 'available',
    'looking-for-work': 'available',
  }
  t.same(
    Object.keys(RPID_ACTIVITY).sort(),
    Object.keys(expected).sort(),
    'table covers RFC 4480 §3.2',
  )
  for (const [activity, availability] of Object.entries(expected)) {
    const r = read(doc(tuple('open') + person(activities(activity))))
    t.equal(r.availability, availability, activity)
    t.equal(r.raw, availability === 'available' ? 'open' : activity, `${activity} raw`)
  }
})

t.test('activities: neutral and unknown ones do not decide; closed still wins', async (t) => {
  t.same(read(doc(tuple('open') + person(activities('unknown')))), {
    kind: 'presence',
    entity: ENTITY,
    availability: 'available',
    raw: 'open',
  })
  t.equal(
    read(doc(tuple('open') + person(activities('dancing')))).availability,
    'available',
    'an activity RFC 4480 does not define is ignored',
  )
  t.equal(
    read(
      doc(
        tuple('open') +
          person('<rpid:activities><rpid:other>Cycling</rpid:other></rpid:activities>'),
      ),
    ).availability,
    'available',
  )
  t.same(
    read(doc(tuple('closed') + person(activities('busy')))),
    { kind: 'presence', entity: ENTITY, availability: 'offline', raw: 'closed' },
    'every tuple closed: offline, whatever the person does',
  )
  t.same(
    read(doc(person(activities('meeting')))),
    { kind: 'presence', entity: ENTITY, availability: 'busy', raw: 'meeting' },
    'no tuple: the activity decides',
  )
})

t.test('several activities: busy-type wins over away-type, else first in order', async (t) => {
  t.equal(
    read(doc(tuple('open') + person(activities('lunch', 'on-the-phone')))).raw,
    'on-the-phone',
  )
  t.equal(
    read(doc(tuple('open') + person(activities('on-the-phone', 'lunch')))).raw,
    'on-the-phone',
  )
  t.equal(read(doc(tuple('open') + person(activities('travel', 'sleeping')))).raw, 'travel')
  t.equal(
    read(doc(tuple('open') + person(activities('unknown', 'away')))).availability,
    'away',
    'a neutral activity does not hide the next one',
  )
  t.equal(
    read(doc(tuple('open') + person(activities('away')) + person(activities('meeting')))).raw,
    'meeting',
    'activities of every person count',
  )
})

t.test('legacy placement: activities in the tuple when no person has any', async (t) => {
  const body = doc(
    `<tuple id="t1"><status><basic>open</basic>${activities('on-the-phone')}</status></tuple>`,
  )
  t.same(read(body), {
    kind: 'presence',
    entity: ENTITY,
    availability: 'busy',
    raw: 'on-the-phone',
  })
  const both = doc(
    `<tuple id="t1"><status><basic>open</basic>${activities('busy')}</status></tuple>${person(activities('away'))}`,
  )
  t.equal(read(both).raw, 'away', "the person's activities are preferred")
})

// ---------------------------------------------------------------- tuples

t.test('several tuples: open wins over closed', async (t) => {
  t.same(read(doc(tuple('closed', '', 'a') + tuple('open', '', 'b'))), {
    kind: 'presence',
    entity: ENTITY,
    availability: 'available',
    raw: 'open',
  })
  t.equal(read(doc(tuple('open', '', 'a') + tuple('closed', '', 'b'))).availability, 'available')
  t.equal(
    read(doc(tuple('closed', '', 'a') + tuple('closed', '', 'b'))).availability,
    'offline',
    'all closed',
  )
  t.equal(
    read(doc(tuple('closed', '', 'a') + tuple('open', '', 'b') + person(activities('away'))))
      .availability,
    'away',
  )
  t.equal(
    read(doc(tuple('maybe', '', 'a') + tuple('closed', '', 'b'))).availability,
    'offline',
    'a basic value outside open|closed is ignored',
  )
})

t.test('a document that says nothing is unknown (raw none)', async (t) => {
  t.same(read(doc('')), { kind: 'presence', entity: ENTITY, availability: 'unknown', raw: 'none' })
  t.same(read(doc('<tuple id="a"><status/></tuple>')), {
    kind: 'presence',
    entity: ENTITY,
    availability: 'unknown',
    raw: 'none',
  })
  t.equal(read(doc(person(activities('unknown')))).availability, 'unknown')
  t.same(read(doc(person('<dm:note>Hello</dm:note>'))), {
    kind: 'presence',
    entity: ENTITY,
    availability: 'unknown',
    raw: 'none',
    status: 'Hello',
  })
})

// -------------------------------------------------------------- prefixes

t.test('namespaces are matched by URI, not by prefix', async (t) => {
  const variants: Record<string, string> = {
    'default namespace everywhere': `<presence xmlns="${NS.pidf}" entity="${ENTITY}">
      <tuple id="t"><status><basic>open</basic></status></tuple>
      <person xmlns="${NS.dataModel}" id="p">
        <activities xmlns="${NS.rpid}"><on-the-phone/></activities>
      </person>
    </presence>`,
    'p: / dm: / rpid:': `<p:presence xmlns:p="${NS.pidf}" xmlns:dm="${NS.dataModel}" xmlns:rpid="${NS.rpid}" entity="${ENTITY}">
      <p:tuple id="t"><p:status><p:basic>open</p:basic></p:status></p:tuple>
      <dm:person id="p"><rpid:activities><rpid:on-the-phone/></rpid:activities></dm:person>
    </p:presence>`,
    'r: for rpid, pdm: for the data model': `<presence xmlns="${NS.pidf}" xmlns:pdm="${NS.dataModel}" xmlns:r="${NS.rpid}" entity="${ENTITY}">
      <tuple id="t"><status><basic>open</basic></status></tuple>
      <pdm:person id="p"><r:activities><r:on-the-phone/></r:activities></pdm:person>
    </presence>`,
    'declarations on inner elements': `<x:presence xmlns:x="${NS.pidf}" entity="${ENTITY}">
      <x:tuple id="t"><x:status><x:basic>open</x:basic></x:status></x:tuple>
      <y:person xmlns:y="${NS.dataModel}" id="p"><z:activities xmlns:z="${NS.rpid}"><z:on-the-phone/></z:activities></y:person>
    </x:presence>`,
    'a prefix rebound on an inner element': `<a:presence xmlns:a="${NS.pidf}" entity="${ENTITY}">
      <a:tuple id="t"><a:status><a:basic>open</a:basic></a:status></a:tuple>
      <a:person xmlns:a="${NS.dataModel}" id="p"><a:activities xmlns:a="${NS.rpid}"><a:on-the-phone/></a:activities></a:person>
    </a:presence>`,
  }
  for (const [name, body] of Object.entries(variants)) {
    t.same(
      readPidf(body),
      { kind: 'presence', entity: ENTITY, availability: 'busy', raw: 'on-the-phone' },
      name,
    )
  }
})

t.test('elements of the right name in another namespace are ignored', async (t) => {
  // rpid: bound to a different URI: the activity is not RPID.
  const fake = `<presence xmlns="${NS.pidf}" xmlns:dm="${NS.dataModel}" xmlns:rpid="urn:example:not-rpid" entity="${ENTITY}">
    ${tuple('open')}<dm:person id="p">${activities('busy')}</dm:person></presence>`
  t.equal(read(fake).availability, 'available')
  // a <basic> in no namespace inside a PIDF status is not PIDF's.
  const noNs = `<presence xmlns="${NS.pidf}" entity="${ENTITY}">
    <tuple id="t"><status><basic xmlns="">closed</basic></status></tuple></presence>`
  t.equal(read(noNs).availability, 'unknown')
  // a person element in the PIDF namespace is not the data model's.
  const wrongPerson = doc(`${tuple('open')}<person id="p">${activities('busy')}</person>`)
  t.equal(
    read(wrongPerson).raw,
    'busy',
    'its activities are still found by the legacy search, but only because they are RPID',
  )
  const wrongPersonNote = doc(`${tuple('open')}<person id="p"><dm:note>x</dm:note></person>`)
  t.notOk(read(wrongPersonNote).status, 'a dm:note outside a dm:person is not the person note')
})

// ------------------------------------------------------------------ Lync

t.test('Lync state/availability numbers at the range boundaries', async (t) => {
  const lync = (n: string, basic = 'open', where: 'state' | 'direct' = 'state') =>
    doc(
      tuple(basic) +
        person(
          where === 'state'
            ? `<state xmlns="${NS.lyncState}"><availability>${n}</availability></state>`
            : `<ms:availability xmlns:ms="${NS.lyncState}">${n}</ms:availability>`,
        ),
    )
  const rows: Array<[number, Availability]> = [
    [0, 'available'],
    [3500, 'available'],
    [4499, 'available'],
    [4500, 'away'],
    [5999, 'away'],
    [6000, 'busy'],
    [7499, 'busy'],
    [7500, 'busy'],
    [8999, 'busy'],
    [9000, 'dnd'],
    [9500, 'dnd'],
    [11999, 'dnd'],
    [12000, 'away'],
    [14999, 'away'],
    [15000, 'away'],
    [17999, 'away'],
    [18000, 'offline'],
    [18500, 'offline'],
  ]
  for (const [n, availability] of rows) {
    t.same(
      readPidf(lync(String(n))),
      { kind: 'presence', entity: ENTITY, availability, raw: `lync:${n}` },
      `${n}`,
    )
  }
  t.equal(
    read(lync('9500', 'open', 'direct')).availability,
    'dnd',
    'availability directly in the person',
  )
  t.equal(read(lync(' 6500 ')).raw, 'lync:6500', 'whitespace trimmed')
  t.equal(read(lync('abc')).raw, 'open', 'not a number: ignored')
  t.equal(read(lync('-1')).raw, 'open', 'negative: ignored')
  t.equal(read(lync('3500.5')).raw, 'open', 'not an integer: ignored')
  t.equal(read(lync('9500', 'closed')).availability, 'offline', 'every tuple closed still wins')
  t.equal(
    read(
      doc(
        tuple('open') +
          person(
            `${activities('away')}<s:state xmlns:s="${NS.lyncState}"><s:availability>9500</s:availability></s:state>`,
          ),
      ),
    ).availability,
    'dnd',
    'a Lync number wins over an activity',
  )
  t.equal(
    read(doc(`${tuple('open')}<x:availability xmlns:x="urn:example:other">9500</x:availability>`))
      .availability,
    'available',
    'an availability element in another namespace is ignored',
  )
  t.equal(
    read(
      doc(
        `${tuple('open')}<s:state xmlns:s="${NS.lyncState}"><s:availability>9500</s:availability></s:state>`,
      ),
    ).availability,
    'available',
    'a Lync number outside a person element is ignored',
  )
})

// ----------------------------------------------------------------- notes

t.test(
  'status: person note, then presence note, then tuple note; trimmed and capped',
  async (t) => {
    const all = doc(
      tuple('open', '<note>tuple note</note>') +
        '<note>presence note</note>' +
        person('<dm:note>  person note \n</dm:note>'),
    )
    t.equal(read(all).status, 'person note')
    t.equal(
      read(doc(`${tuple('open', '<note>tuple note</note>')}<note>presence note</note>`)).status,
      'presence note',
    )
    t.equal(read(doc(tuple('open', '<note>tuple note</note>'))).status, 'tuple note')
    t.equal(
      read(doc(`${tuple('open', '<note> </note>')}<note></note>${person('<dm:note>\n</dm:note>')}`))
        .status,
      undefined,
      'empty notes are skipped',
    )
    t.equal(
      read(doc(tuple('open', '<note xml:lang="en"> </note><note xml:lang="fr">Bonjour</note>')))
        .status,
      'Bonjour',
      'the first non-empty note',
    )
    t.equal(
      read(
        doc(
          tuple('closed', '<note>closed note</note>', 'a') +
            tuple('open', '<note>open note</note>', 'b'),
        ),
      ).status,
      'open note',
      "open tuples' notes come first",
    )
    const long = 'x'.repeat(MAX_STATUS_LENGTH + 100)
    t.equal(read(doc(tuple('open', `<note>${long}</note>`))).status?.length, MAX_STATUS_LENGTH)
    const emoji = `${'x'.repeat(MAX_STATUS_LENGTH - 1)}😀`
    const capped = read(doc(tuple('open', `<note>${emoji}</note>`))).status ?? ''
    t.equal(capped, 'x'.repeat(MAX_STATUS_LENGTH - 1), 'a surrogate pair is never split')
    t.equal(
      read(
        doc(
          tuple('open', '<note>a &lt;b&gt; &amp; &#x263A; &#9731; <![CDATA[<raw> & ]]>end</note>'),
        ),
      ).status,
      'a <b> & ☺ ☃ <raw> & end',
      'entities, character references and CDATA',
    )
  },
)

// ------------------------------------------------------------- malformed

t.test('malformed input is invalid with a reason, and never throws', async (t) => {
  const bodies: Record<string, unknown> = {
    'empty body': '',
    'whitespace only': '  \n ',
    'not XML': 'hello, I am not XML',
    JSON: '{"presence":"open"}',
    truncated: doc(tuple('open')).slice(0, 120),
    'unclosed tag': `<presence xmlns="${NS.pidf}" entity="${ENTITY}"><tuple id="t">`,
    'mismatched tags': `<presence xmlns="${NS.pidf}" entity="${ENTITY}"><tuple></status></presence>`,
    'two roots': `${doc(tuple('open'))}<presence xmlns="${NS.pidf}" entity="${ENTITY}"/>`,
    'text after the root': `${doc(tuple('open'))}trailing`,
    'wrong root': `<notify xmlns="${NS.pidf}" entity="${ENTITY}"/>`,
    'wrong namespace': `<presence xmlns="urn:ietf:params:xml:ns:cpim-pidf" entity="${ENTITY}">${tuple('open')}</presence>`,
    'no namespace': `<presence entity="${ENTITY}">${tuple('open')}</presence>`,
    'XPIDF root': `<presence><presentity uri="${ENTITY}"/><atom id="1"><address uri="${ENTITY}"><status status="open"/></address></atom></presence>`,
    'undeclared prefix': `<p:presence entity="${ENTITY}"/>`,
    'undeclared prefix deep inside': doc(`${tuple('open')}<q:x/>`),
    'missing entity': `<presence xmlns="${NS.pidf}">${tuple('open')}</presence>`,
    'empty entity': doc(tuple('open'), ' '),
    'entity not a URI': doc(tuple('open'), 'alice at example'),
    'DOCTYPE with entities (billion laughs)': `<?xml version="1.0"?>
<!DOCTYPE presence [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<presence xmlns="${NS.pidf}" entity="${ENTITY}"><note>&lol3;</note></presence>`,
    'DOCTYPE with an external entity (XXE)': `<?xml version="1.0"?>
<!DOCTYPE presence [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<presence xmlns="${NS.pidf}" entity="${ENTITY}"><note>&xxe;</note></presence>`,
    'plain DOCTYPE': `<!DOCTYPE presence><presence xmlns="${NS.pidf}" entity="${ENTITY}"/>`,
    'undeclared entity reference': doc(tuple('open', '<note>&nbsp;</note>')),
    'stray ampersand': doc(tuple('open', '<note>a & b</note>')),
    'reference to a non-XML character': doc(tuple('open', '<note>&#0;</note>')),
    'reference to a lone surrogate': doc(tuple('open', '<note>&#xD800;</note>')),
    'non-XML character reference in an attribute': doc(tuple('open', '', 'a&#1;')),
    'a prefix bound to the empty namespace': `<p:presence xmlns:p="${NS.pidf}" entity="${ENTITY}"><p:tuple xmlns:p="" id="t"/></p:presence>`,
    'the xmlns prefix declared': `<presence xmlns="${NS.pidf}" xmlns:xmlns="urn:x" entity="${ENTITY}"/>`,
    'two colons in a name': doc('<a:b:c xmlns:a="urn:x"/>'),
    "'<' in an attribute": doc(tuple('open'), 'sip:a<b@example.com'),
    'prototype-polluting element name': `<presence xmlns="${NS.pidf}" entity="${ENTITY}"><__proto__/></presence>`,
    'too deep': doc(`${'<a>'.repeat(200)}${'</a>'.repeat(200)}`),
    '100 KiB body': doc(tuple('open', `<note>${'x'.repeat(100 * 1024)}</note>`)),
    'not a string': 42,
    null: null,
    'a Buffer': Buffer.from(doc(tuple('open'))),
  }
  for (const [name, body] of Object.entries(bodies)) {
    let reading: PidfReading | undefined
    t.doesNotThrow(() => {
      reading = readPidf(body as string)
    }, name)
    t.equal(reading?.kind, 'invalid', name)
    t.type(reading?.kind === 'invalid' && reading.reason, 'string', `${name}: has a reason`)
  }
  t.match(readPidf(''), { reason: /empty/ })
  t.match(readPidf('nope'), { reason: /XML/ })
  t.match(readPidf(bodies['DOCTYPE with entities (billion laughs)'] as string), {
    reason: /DOCTYPE/,
  })
  t.match(readPidf(bodies['wrong root'] as string), { reason: /root element/ })
  t.match(readPidf(bodies['wrong namespace'] as string), { reason: /root element/ })
  t.match(readPidf(bodies['100 KiB body'] as string), { reason: /64 KiB/ })
  t.match(readPidf(bodies['missing entity'] as string), { reason: /entity is missing/ })
})

t.test('the size limit is in UTF-8 bytes, at exactly 64 KiB', async (t) => {
  const base = doc(tuple('open', '<note>N</note>'))
  const room = MAX_PIDF_BYTES - Buffer.byteLength(base) + 1
  const exact = base.replace('N', 'x'.repeat(room))
  t.equal(Buffer.byteLength(exact), MAX_PIDF_BYTES)
  t.equal(readPidf(exact).kind, 'presence', 'exactly 64 KiB is read')
  t.equal(readPidf(`${exact} `).kind, 'invalid', 'one byte more is not')
  const multibyte = base.replace('N', 'é'.repeat(Math.ceil(room / 2) + 1))
  t.ok(multibyte.length < MAX_PIDF_BYTES && Buffer.byteLength(multibyte) > MAX_PIDF_BYTES)
  t.equal(readPidf(multibyte).kind, 'invalid', 'counted in bytes, not characters')
})

t.test('a byte-order mark and comments are fine', async (t) => {
  t.equal(read(`\uFEFF${doc(tuple('open'))}`).availability, 'available')
  t.equal(
    read(doc(`<!-- a & b -->${tuple('open')}`)).availability,
    'available',
    "an '&' in a comment",
  )
  t.equal(
    read(doc(`<?some-pi data?>${tuple('open', '<note>a<!-- hidden -->b</note>')}`)).status,
    'ab',
    'processing instructions and comments inside text are dropped',
  )
})

// -------------------------------------------------------------- building

t.test('buildPidf -> readPidf round trip for every availability', async (t) => {
  const back: Record<Availability, { availability: Availability; raw: string }> = {
    available: { availability: 'available', raw: 'open' },
    away: { availability: 'away', raw: 'away' },
    busy: { availability: 'busy', raw: 'busy' },
    dnd: { availability: 'dnd', raw: 'lync:9500' },
    offline: { availability: 'offline', raw: 'closed' },
    // unknown is published as closed (we do not claim to be reachable).
    unknown: { availability: 'offline', raw: 'closed' },
  }
  for (const availability of AVAILABILITIES) {
    const body = buildPidf({ entity: ENTITY, availability })
    t.same(
      readPidf(body, 'application/pidf+xml'),
      { kind: 'presence', entity: ENTITY, ...back[availability] },
      availability,
    )
    const withStatus = buildPidf({ entity: ENTITY, availability, status: 'In the lab' })
    t.same(
      readPidf(withStatus),
      { kind: 'presence', entity: ENTITY, ...back[availability], status: 'In the lab' },
      `${availability} with status`,
    )
  }
})

t.test('buildPidf writes the documented shape', async (t) => {
  const available = buildPidf({ entity: ENTITY, availability: 'available' })
  t.ok(available.startsWith('<?xml version="1.0" encoding="UTF-8"?>'))
  t.match(available, `<presence xmlns="${NS.pidf}" entity="${ENTITY}">`)
  t.match(available, '<tuple id="parley"><status><basic>open</basic></status></tuple>')
  t.notMatch(available, 'person', 'no person element when there is nothing to say')

  const offline = buildPidf({ entity: ENTITY, availability: 'offline', tupleId: 'pc_1' })
  t.match(offline, '<tuple id="pc_1"><status><basic>closed</basic></status></tuple>')

  const busy = buildPidf({ entity: ENTITY, availability: 'busy', status: 'On a call' })
  t.match(busy, `xmlns:dm="${NS.dataModel}"`)
  t.match(busy, `xmlns:rpid="${NS.rpid}"`)
  t.match(busy, '<note>On a call</note></tuple>')
  t.match(
    busy,
    '<dm:person id="p-parley"><rpid:activities><rpid:busy/></rpid:activities><dm:note>On a call</dm:note></dm:person>',
  )
  t.notMatch(busy, NS.lyncState)

  const dnd = buildPidf({ entity: ENTITY, availability: 'dnd' })
  t.match(dnd, `xmlns:ms="${NS.lyncState}"`)
  t.match(
    dnd,
    '<rpid:activities><rpid:busy/></rpid:activities><ms:state><ms:availability>9500</ms:availability></ms:state>',
  )
  t.match(buildPidf({ entity: ENTITY, availability: 'away' }), '<rpid:away/>')
})

t.test('buildPidf escapes <&>"\' in notes and entity, and drops non-XML characters', async (t) => {
  const nasty = `<b>Tom & "Jerry"</b> 'quoted' ]]> &amp; </presence><x>`
  const entity = `sip:o'brien&"<x>"@example.com`
  const body = buildPidf({ entity, availability: 'busy', status: nasty })
  t.notMatch(body, '<b>', 'no markup from the status')
  t.notMatch(body, '</presence><x>')
  t.match(body, '&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;')
  t.match(body, '&amp;amp;', 'an entity-looking text is escaped, not passed through')
  t.same(readPidf(body), {
    kind: 'presence',
    entity,
    availability: 'busy',
    raw: 'busy',
    status: nasty,
  })
  const controls = buildPidf({
    entity: ENTITY,
    availability: 'available',
    status: 'a\u0000b\u0007c\ufffed\ud800e\tf',
  })
  t.equal(read(controls).status, 'abcde\tf', 'C0 controls, U+FFFE and lone surrogates dropped')
  const empty = buildPidf({ entity: ENTITY, availability: 'available', status: ' \u0001 ' })
  t.notMatch(empty, 'note', 'a status with nothing left is omitted')
  const long = buildPidf({ entity: ENTITY, availability: 'away', status: 'y'.repeat(5000) })
  t.equal(read(long).status?.length, MAX_STATUS_LENGTH, 'the status is capped')
})

t.test('buildPidf refuses a bad entity, availability or tuple id', async (t) => {
  t.throws(() => buildPidf({ entity: '', availability: 'available' }), {
    code: 'PARLEY_ERR_ADDRESS_INVALID',
  })
  t.throws(() => buildPidf({ entity: 'alice@example.com', availability: 'available' }), {
    code: 'PARLEY_ERR_ADDRESS_INVALID',
  })
  t.throws(() => buildPidf({ entity: 'sip:a b@example.com', availability: 'available' }), {
    code: 'PARLEY_ERR_ADDRESS_INVALID',
  })
  t.throws(() => buildPidf({ entity: 'sip:a\u0000@example.com', availability: 'available' }), {
    code: 'PARLEY_ERR_ADDRESS_INVALID',
  })
  t.throws(() => buildPidf({ entity: ENTITY, availability: 'sleepy' as Availability }), {
    code: 'PARLEY_ERR_VALIDATION',
  })
  for (const tupleId of ['', '1abc', 'a b', 'a"b', 'x'.repeat(65)]) {
    t.throws(
      () => buildPidf({ entity: ENTITY, availability: 'available', tupleId }),
      {
        code: 'PARLEY_ERR_VALIDATION',
      },
      JSON.stringify(tupleId),
    )
  }
})
