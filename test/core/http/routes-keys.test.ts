import t from 'tap'
import { testApp } from '../../helpers/app.js'

t.test('POST /v1/keys creates a key shown once; it works at once with its scopes', async (t) => {
  const app = await testApp(t)
  const res = await app.inject({
    method: 'POST',
    url: '/v1/keys',
    payload: { name: 'presence dashboard', scopes: ['presence:read'] },
  })
  t.equal(res.statusCode, 201)
  const created = res.json()
  t.match(created, {
    id: /^[0-9a-f-]{36}$/,
    key: /^pk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/,
    name: 'presence dashboard',
    scopes: ['presence:read'],
    createdAt: String,
  })
  const headers = { authorization: `Bearer ${created.key}` }
  t.equal((await app.inject({ url: '/v1/networks', headers })).statusCode, 200)
  t.equal((await app.inject({ url: '/v1/keys', headers })).statusCode, 403)

  const list = await app.inject({ url: '/v1/keys' })
  t.equal(list.statusCode, 200)
  t.notMatch(list.body, created.key.slice(12), 'the list never shows a secret')
  t.notMatch(list.body, /hash/)
  const listed = list.json().keys.find((k: { id: string }) => k.id === created.id)
  t.match(listed, {
    name: 'presence dashboard',
    prefix: created.key.slice(3, 11),
    scopes: ['presence:read'],
    revokedAt: null,
  })
  t.same(Object.keys(listed).sort(), [
    'createdAt',
    'id',
    'lastUsedAt',
    'name',
    'prefix',
    'revokedAt',
    'scopes',
  ])
})

t.test('DELETE /v1/keys/:id revokes: the key is refused at once on this host', async (t) => {
  const app = await testApp(t)
  const created = (
    await app.inject({ method: 'POST', url: '/v1/keys', payload: { scopes: ['messages:send'] } })
  ).json()
  const headers = { authorization: `Bearer ${created.key}` }
  t.equal((await app.inject({ url: '/v1/messages', headers })).statusCode, 200, 'cached as valid')
  const revoked = await app.inject({ method: 'DELETE', url: `/v1/keys/${created.id}` })
  t.equal(revoked.statusCode, 204)
  const after = await app.inject({ url: '/v1/messages', headers })
  t.equal(after.statusCode, 401)
  t.equal(after.json().code, 'PARLEY_ERR_UNAUTHORIZED')
  const again = await app.inject({ method: 'DELETE', url: `/v1/keys/${created.id}` })
  t.equal(again.statusCode, 404)
  t.equal(again.json().code, 'PARLEY_ERR_NOT_FOUND')
  const listed = (await app.inject({ url: '/v1/keys' })).json().keys
  t.match(
    listed.find((k: { id: string }) => k.id === created.id),
    { revokedAt: String },
  )
})

t.test('bad key requests are 400 with a code, never a 500', async (t) => {
  const app = await testApp(t)
  for (const [what, request] of [
    ['no scopes', { method: 'POST', url: '/v1/keys', payload: { name: 'x' } }],
    ['empty scopes', { method: 'POST', url: '/v1/keys', payload: { scopes: [] } }],
    ['unknown scope', { method: 'POST', url: '/v1/keys', payload: { scopes: ['root'] } }],
    [
      'repeated scope',
      { method: 'POST', url: '/v1/keys', payload: { scopes: ['admin', 'admin'] } },
    ],
    [
      'unknown field',
      { method: 'POST', url: '/v1/keys', payload: { scopes: ['admin'], hash: 'x' } },
    ],
    ['empty name', { method: 'POST', url: '/v1/keys', payload: { scopes: ['admin'], name: '' } }],
    [
      'long name',
      { method: 'POST', url: '/v1/keys', payload: { scopes: ['admin'], name: 'n'.repeat(129) } },
    ],
    ['id not a UUID', { method: 'DELETE', url: '/v1/keys/not-a-uuid' }],
  ] as const) {
    const res = await app.inject(request)
    t.equal(res.statusCode, 400, what)
    t.equal(res.json().code, 'PARLEY_ERR_VALIDATION', what)
  }
})

t.test('the OpenAPI document describes the key routes', async (t) => {
  const app = await testApp(t)
  const { paths } = (await app.inject({ url: '/docs/json' })).json()
  t.match(paths['/v1/keys'].post, {
    tags: ['keys'],
    summary: /shown in this answer only/,
    requestBody: {
      content: { 'application/json': { schema: { additionalProperties: false } } },
    },
    responses: { 201: {}, 401: {}, 403: {}, 429: {} },
  })
  t.match(paths['/v1/keys'].get, { tags: ['keys'], responses: { 200: {} } })
  t.match(paths['/v1/keys/{id}'].delete, { tags: ['keys'], responses: { 204: {}, 401: {} } })
})
