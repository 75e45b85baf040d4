import { randomUUID } from 'node:crypto'
import t from 'tap'
import { fakePlugin, testApp } from '../../helpers/app.js'

const BOARD = '/admin/queues'

async function boardHost(t: Parameters<typeof testApp>[0]) {
  const app = await testApp(t, { plugins: [fakePlugin(randomUUID())] })
  const key = async (scope: string) =>
    (await app.store.apiKeys.create({ scopes: [scope as never] })).key
  return { app, key }
}

/** A script the board's page loads (its file name changes with every board release). */
async function boardScript(app: Awaited<ReturnType<typeof testApp>>): Promise<string> {
  const page = await app.inject({ url: `${BOARD}/` })
  const src = /<script[^>]+src="(static\/js\/main\.[^"]+\.js)"/.exec(page.body)?.[1]
  if (!src) throw new Error('no script on the board page')
  return `${BOARD}/${src}`
}

t.test('an admin key opens the board: its page, its API and its static files', async (t) => {
  const { app } = await boardHost(t)
  const page = await app.inject({ url: BOARD })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.body, `<base href="${BOARD}/"`, 'the page links below the mount point')
  const script = await app.inject({ url: await boardScript(app) })
  t.equal(script.statusCode, 200)
  t.match(script.headers['content-type'], /javascript/)
  const api = await app.inject({ url: `${BOARD}/api/queues` })
  t.equal(api.statusCode, 200)
  t.same(
    api
      .json()
      .queues.map((q: { name: string }) => q.name)
      .sort(),
    ['inbound', 'outbound-fake', 'presence'],
    'the inbound queue, every outbound queue and the presence queue',
  )
})

t.test('the board shows jobs really queued', async (t) => {
  const { app } = await boardHost(t)
  await app.queues.inbound.add('message', { network: 'fake' } as never, {
    delay: 60_000,
    jobId: 'board-test-job',
  })
  const res = await app.inject({ url: `${BOARD}/api/queues?activeQueue=inbound&status=delayed` })
  t.equal(res.statusCode, 200)
  const inbound = res.json().queues.find((q: { name: string }) => q.name === 'inbound')
  t.equal(inbound.counts.delayed, 1)
  t.same(
    inbound.jobs.map((j: { id: string }) => j.id),
    ['board-test-job'],
  )
})

t.test('every board route refuses a request without a key, static files included', async (t) => {
  const { app } = await boardHost(t)
  const board = app.auth.routes().filter((r) => r.url.startsWith(BOARD))
  t.ok(board.length > 40, `${board.length} board routes`)
  t.same(
    board.filter((r) => r.scope !== 'admin'),
    [],
    'every board route needs admin',
  )
  t.ok(
    board.some((r) => r.url === `${BOARD}/static/*`),
    'the static files are a route of their own',
  )
  const script = await boardScript(app)
  for (const url of [
    BOARD,
    `${BOARD}/`,
    `${BOARD}/queue/inbound`,
    `${BOARD}/api/queues`,
    `${BOARD}/api/redis/stats`,
    script,
    `${BOARD}/static/images/logo.svg`,
  ]) {
    const res = await app.inject({ url, headers: { authorization: undefined } })
    t.equal(res.statusCode, 401, `GET ${url} without a key: 401`)
    t.equal(res.json().code, 'PARLEY_ERR_UNAUTHORIZED', 'in the host error shape')
    t.match(res.headers['www-authenticate'], /^Bearer realm="parley"/)
  }
  const pause = await app.inject({
    method: 'PUT',
    url: `${BOARD}/api/queues/inbound/pause`,
    headers: { authorization: undefined },
  })
  t.equal(pause.statusCode, 401, 'an action without a key: 401')
  t.equal(await app.queues.inbound.isPaused(), false, 'and nothing was done')
})

t.test('keys of other scopes get 403 on the board', async (t) => {
  const { app, key } = await boardHost(t)
  const script = await boardScript(app)
  for (const scope of ['presence:read', 'metrics:read', 'messages:send', 'contacts:write']) {
    const authorization = `Bearer ${await key(scope)}`
    for (const url of [BOARD, `${BOARD}/api/queues`, script]) {
      const res = await app.inject({ url, headers: { authorization } })
      t.equal(res.statusCode, 403, `GET ${url} with a ${scope} key: 403`)
      t.equal(res.json().code, 'PARLEY_ERR_FORBIDDEN')
      t.match(res.json().message, "'admin'")
    }
  }
})

t.test(
  'a missing static file is the host 404; the board stays out of the OpenAPI document',
  async (t) => {
    const { app } = await boardHost(t)
    const missing = await app.inject({ url: `${BOARD}/static/js/no-such-file.js` })
    t.equal(missing.statusCode, 404)
    t.equal(missing.json().code, 'PARLEY_ERR_NOT_FOUND')
    const doc = (await app.inject({ url: '/docs/json' })).json()
    t.same(
      Object.keys(doc.paths).filter((p) => p.startsWith(BOARD)),
      [],
      'no board path in /docs/json',
    )
  },
)
