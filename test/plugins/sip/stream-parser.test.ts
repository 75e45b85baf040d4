import sip from 'sip'
import t from 'tap'

/**
 * The `sip` package's TCP/TLS stream parser, as patched by
 * patches/sip+0.0.6.patch (applied by `npm install`'s postinstall,
 * patch-package). Each case is a bug the wire corpus found
 * (test/contract/wire-corpus.test.ts): without the patch these fail.
 */
const parser = sip as unknown as {
  makeStreamParser(
    onMessage: (m: { content: string; method?: string }) => void,
    onFlood: () => void,
  ): (data: string) => void
}

const request = (body: string, end = '\r\n\r\n') =>
  `MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\nContent-Length: ${body.length}${end}${body}`

function run(...chunks: string[]) {
  const messages: string[] = []
  let floods = 0
  const feed = parser.makeStreamParser(
    (m) => messages.push(m.content),
    () => floods++,
  )
  for (const chunk of chunks) feed(chunk)
  return { messages, floods }
}

t.test('thousands of unparsable blocks in one write: no stack overflow', async (t) => {
  t.same(run('x\r\n\r\n'.repeat(50_000)), { messages: [], floods: 0 })
  // and the stream still works afterwards
  t.same(run('x\r\n\r\n'.repeat(20_000), request('after')).messages, ['after'])
})

t.test('a header block may end CRLF CRLF, CRLF LF or LF LF without losing sync', async (t) => {
  t.same(run(request('one', '\r\n\n') + request('two') + request('three', '\n\n')).messages, [
    'one',
    'two',
    'three',
  ])
})

t.test('the header limit counts headers, not the body that follows', async (t) => {
  const body = 'y'.repeat(70_000)
  t.same(run(request(body)), { messages: [body], floods: 0 })
  t.same(run(`${'X-Pad: z\r\n'.repeat(7000)}`).floods, 1, 'a header flood still ends the stream')
})

t.test('a Content-Length that is not a non-negative integer ends the stream', async (t) => {
  for (const length of ['ten', '-5', '1.5']) {
    const bad = request('').replace('Content-Length: 0', `Content-Length: ${length}`)
    t.equal(run(bad).floods, 1, length)
  }
})

t.test('keep-alive CRLFs between messages and split writes are fine', async (t) => {
  const whole = request('split me')
  t.same(run('\r\n\r\n', whole.slice(0, 40), whole.slice(40, 200), whole.slice(200)).messages, [
    'split me',
  ])
})
