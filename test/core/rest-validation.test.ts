import { randomUUID } from 'node:crypto'
import t from 'tap'
import { fakePlugin, testApp } from '../helpers/app.js'

t.test('bad REST input gets a 4xx with a stable code, never a 500', async (t) => {
  const app = await testApp(t, { plugins: [fakePlugin(randomUUID())] })
  const cases: Array<
    [
      string,
      {
        method: 'GET' | 'POST' | 'DELETE'
        url: string
        payload?: string | object
        headers?: Record<string, string>
      },
      number,
      string,
    ]
  > = [
    [
      'missing text',
      { method: 'POST', url: '/v1/messages', payload: { to: 'fake:a@fake.test' } },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'empty text',
      { method: 'POST', url: '/v1/messages', payload: { to: 'fake:a@fake.test', text: '' } },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'unknown field',
      {
        method: 'POST',
        url: '/v1/messages',
        payload: { to: 'fake:a@fake.test', text: 'x', cc: 'y' },
      },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'text not a string',
      { method: 'POST', url: '/v1/messages', payload: { to: 'fake:a@fake.test', text: 5 } },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'address without network',
      { method: 'POST', url: '/v1/messages', payload: { to: 'alice@example.org', text: 'x' } },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'unknown network',
      { method: 'POST', url: '/v1/messages', payload: { to: 'irc:bob@x', text: 'x' } },
      400,
      'PARLEY_ERR_NETWORK_UNKNOWN',
    ],
    [
      'id the plugin rejects',
      { method: 'POST', url: '/v1/messages', payload: { to: 'fake:no-at-sign', text: 'x' } },
      400,
      'PARLEY_ERR_ADDRESS_INVALID',
    ],
    [
      'from that is not an identity',
      {
        method: 'POST',
        url: '/v1/messages',
        payload: { from: 'fake:other@fake.test', to: 'fake:a@fake.test', text: 'x' },
      },
      422,
      'PARLEY_ERR_NO_IDENTITY',
    ],
    [
      'malformed JSON',
      {
        method: 'POST',
        url: '/v1/messages',
        payload: '{"to": ',
        headers: { 'content-type': 'application/json' },
      },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'array body',
      { method: 'POST', url: '/v1/messages', payload: [1, 2] },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'wrong content type',
      {
        method: 'POST',
        url: '/v1/messages',
        payload: '<to/>',
        headers: { 'content-type': 'application/xml' },
      },
      415,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'body too large',
      {
        method: 'POST',
        url: '/v1/messages',
        payload: { to: 'fake:a@fake.test', text: 'x'.repeat(70000) },
      },
      413,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'unknown message id',
      { method: 'GET', url: '/v1/messages/7f1e0e0e-0000-4000-8000-000000000000' },
      404,
      'PARLEY_ERR_MESSAGE_NOT_FOUND',
    ],
    [
      'bad message id',
      { method: 'GET', url: '/v1/messages/..%2F..' },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'unknown network view',
      { method: 'GET', url: '/v1/networks/nope' },
      404,
      'PARLEY_ERR_NOT_FOUND',
    ],
    ['unknown route', { method: 'GET', url: '/v1/nothing-here' }, 404, 'PARLEY_ERR_NOT_FOUND'],
    [
      'unknown status filter',
      { method: 'GET', url: '/v1/messages?status=lost' },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'limit out of range',
      { method: 'GET', url: '/v1/messages?limit=0' },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'unknown query field',
      { method: 'GET', url: '/v1/messages?sort=asc' },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'presence of an unknown network',
      { method: 'GET', url: '/v1/presence/irc:bob@x' },
      400,
      'PARLEY_ERR_NETWORK_UNKNOWN',
    ],
    [
      'presence of an id the plugin rejects',
      { method: 'GET', url: '/v1/presence/fake:no-at-sign' },
      400,
      'PARLEY_ERR_ADDRESS_INVALID',
    ],
    [
      'presence query without addresses',
      { method: 'POST', url: '/v1/presence/query', payload: { addresses: [] } },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'presence query with a non-string',
      { method: 'POST', url: '/v1/presence/query', payload: { addresses: [42] } },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'presence query with a bad address among good ones',
      {
        method: 'POST',
        url: '/v1/presence/query',
        payload: { addresses: ['fake:a@fake.test', 'fake:nope'] },
      },
      400,
      'PARLEY_ERR_ADDRESS_INVALID',
    ],
    [
      'presence stream of an unknown network',
      { method: 'GET', url: '/v1/presence/stream?addresses=irc:bob@x' },
      400,
      'PARLEY_ERR_NETWORK_UNKNOWN',
    ],
    [
      'presence stream without addresses',
      { method: 'GET', url: '/v1/presence/stream' },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'presence stream of only commas',
      { method: 'GET', url: '/v1/presence/stream?addresses=,,,' },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'watch on a network without subscriptions',
      { method: 'POST', url: '/v1/contacts', payload: { address: 'fake:a@fake.test' } },
      422,
      'PARLEY_ERR_CAPABILITY',
    ],
    [
      'watch without an address',
      { method: 'POST', url: '/v1/contacts', payload: { identity: 'fake:bot@fake.test' } },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      "watch from an identity that is not the network's",
      {
        method: 'POST',
        url: '/v1/contacts',
        payload: { address: 'fake:a@fake.test', identity: 'fake:someone@fake.test' },
      },
      422,
      'PARLEY_ERR_NO_IDENTITY',
    ],
    [
      'contact id not a uuid',
      { method: 'POST', url: '/v1/contacts/abc/approve' },
      400,
      'PARLEY_ERR_VALIDATION',
    ],
    [
      'unknown contact',
      { method: 'DELETE', url: '/v1/contacts/7f1e0e0e-0000-4000-8000-000000000000' },
      404,
      'PARLEY_ERR_CONTACT_NOT_FOUND',
    ],
    [
      'contacts of an unknown network identity',
      { method: 'GET', url: '/v1/contacts?identity=irc:bob@x' },
      400,
      'PARLEY_ERR_NETWORK_UNKNOWN',
    ],
  ]
  for (const [name, request, status, code] of cases) {
    const res = await app.inject(request)
    t.equal(res.statusCode, status, `${name}: status`)
    t.equal(res.json().code, code, `${name}: code`)
  }
})

t.test('the OpenAPI document lists the v1 routes', async (t) => {
  const app = await testApp(t)
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const paths = Object.keys(res.json().paths)
  for (const p of [
    '/health',
    '/v1/networks',
    '/v1/messages',
    '/v1/messages/{id}',
    '/v1/presence/{address}',
    '/v1/presence/query',
    '/v1/presence/stream',
    '/v1/contacts',
    '/v1/contacts/{id}/approve',
  ])
    t.ok(paths.includes(p), p)
})

t.test(
  'the SSE stream: any Accept that allows it streams; one that rules it out is 406, coded',
  async (t) => {
    const app = await testApp(t, { plugins: [fakePlugin(randomUUID())] })
    const url = '/v1/presence/stream?addresses=fake%3Aa%40fake.test'
    const refused = await app.inject({
      method: 'GET',
      url,
      headers: { accept: 'application/json' },
    })
    t.equal(refused.statusCode, 406)
    t.match(refused.json(), { code: 'PARLEY_ERR_NOT_ACCEPTABLE', message: /text\/event-stream/ })
    // No Accept at all (what curl and the fuzz test send) is a stream, not the 500 it once was.
    const base = await app.listen({ port: 0, host: '127.0.0.1' })
    for (const accept of [undefined, '*/*', 'text/event-stream']) {
      const controller = new AbortController()
      const res = await fetch(`${base}${url}`, {
        headers: {
          authorization: `Bearer ${app.config.security.adminKey}`,
          ...(accept && { accept }),
        },
        signal: controller.signal,
      })
      t.equal(res.status, 200, `Accept: ${accept ?? '(none)'}`)
      t.match(res.headers.get('content-type'), /^text\/event-stream/)
      controller.abort()
    }
  },
)
