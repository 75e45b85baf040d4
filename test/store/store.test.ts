import { randomUUID } from 'node:crypto'
import { connect, createServer, type Server, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import type { Logger } from '../../core/contract/plugin.js'
import { createDataSource } from '../../core/store/data-source.js'
import { openStore } from '../../core/store/store.js'
import {
  dropSchema,
  eachBackend,
  freshDatabase,
  PG_TEST_URL,
  pgTables,
  testStore,
  uniqueSchemaName,
} from './fixtures/backends.js'

interface Line {
  level: string
  obj: object
  msg?: string
}

function captureLogger(lines: Line[]): Logger {
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj, msg })
    }
  const log: Logger = {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => log,
  }
  return log
}

eachBackend(
  t,
  'openStore applies pending migrations once and logs each',
  async (t: Test, backend) => {
    const { config, cleanup } = await freshDatabase(backend)
    t.teardown(cleanup)
    const lines: Line[] = []
    const store = await openStore({ ...config, log: captureLogger(lines) })
    t.equal(store.driver, backend === 'sqlite' ? 'better-sqlite3' : 'postgres')
    const applied = lines.filter((l) => l.msg === 'migration applied').map((l) => l.obj)
    t.same(applied, [
      { migration: 'CreateIdentitiesAndContacts1795786314220' },
      { migration: 'CreateMessages1795786314221' },
      { migration: 'CreatePluginState1795786314222' },
      { migration: 'CreatePresenceLastKnown1795786314223' },
      { migration: 'CreateApiKeys1795786314224' },
      { migration: 'CreatePolicyVersions1795786314230' },
    ])
    t.ok(lines.some((l) => l.level === 'info' && l.msg === 'store open'))
    await store.close()

    lines.length = 0
    const reopened = await openStore({ ...config, log: captureLogger(lines) })
    t.teardown(() => reopened.close())
    t.equal(
      lines.filter((l) => l.msg === 'migration applied').length,
      0,
      'nothing to apply on reopen',
    )
    await reopened.ping()
  },
)

eachBackend(
  t,
  'openStore with migrate: false leaves the database alone',
  async (t: Test, backend) => {
    const store = await testStore(t, backend, { migrate: false })
    const runner = store.dataSource.createQueryRunner()
    t.equal(await runner.hasTable('messages'), false)
    await runner.release()
  },
)

eachBackend(t, 'close is idempotent and a closed store rejects calls', async (t: Test, backend) => {
  const { config, cleanup } = await freshDatabase(backend)
  t.teardown(cleanup)
  const store = await openStore(config)
  await store.ping()
  await Promise.all([store.close(), store.close()])
  await store.close()
  t.equal(store.dataSource.isInitialized, false)
  await t.rejects(store.messages.get(randomUUID()))
})

t.test('openStore creates a missing PostgreSQL schema', async (t) => {
  const schema = uniqueSchemaName()
  t.teardown(() => dropSchema(schema))
  const store = await openStore({ url: PG_TEST_URL, schema })
  t.teardown(() => store.close())
  t.same(await pgTables(schema), [
    'api_keys',
    'contacts',
    'identities',
    'messages',
    'parley_migrations',
    'plugin_state',
    'policy_versions',
    'presence_last_known',
  ])
})

t.test('an unreachable PostgreSQL is PARLEY_ERR_STORE_UNAVAILABLE', async (t) => {
  await t.rejects(openStore({ url: 'postgres://postgres@127.0.0.1:1/test' }), {
    code: 'PARLEY_ERR_STORE_UNAVAILABLE',
    statusCode: 503,
    message: /ECONNREFUSED/,
  })
})

/** A TCP hop in front of PostgreSQL that the test can cut and restore. */
async function pgProxy(t: Test) {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  const listen = () =>
    new Promise<void>((resolve) => {
      const listening = createServer((client) => {
        const upstream = connect(5432, '127.0.0.1')
        for (const s of [client, upstream]) {
          sockets.add(s)
          s.on('close', () => sockets.delete(s))
          s.on('error', () => undefined)
        }
        client.pipe(upstream).pipe(client)
      })
      server = listening
      listening.listen(port, '127.0.0.1', () => {
        port = (listening.address() as { port: number }).port
        resolve()
      })
    })
  const cut = async () => {
    await new Promise<void>((resolve) => {
      server?.close(() => resolve())
      for (const s of sockets) s.destroy()
    })
  }
  await listen()
  t.teardown(cut)
  return {
    url: () => PG_TEST_URL.replace('127.0.0.1:5432', `127.0.0.1:${port}`),
    cut,
    restore: listen,
  }
}

t.test(
  'a PostgreSQL that goes away is PARLEY_ERR_STORE_UNAVAILABLE, and the store recovers',
  async (t) => {
    const proxy = await pgProxy(t)
    const schema = uniqueSchemaName()
    t.teardown(() => dropSchema(schema))
    const store = await openStore({ url: proxy.url(), schema })
    t.teardown(() => store.close())
    const id = randomUUID()
    await store.messages.createOutbound({
      id,
      network: 'xmpp',
      from: 'xmpp:a@x.org',
      to: 'xmpp:b@y.org',
      text: 'hi',
    })

    await proxy.cut()
    await t.rejects(store.messages.get(id), {
      code: 'PARLEY_ERR_STORE_UNAVAILABLE',
      statusCode: 503,
    })
    await t.rejects(store.ping(), { code: 'PARLEY_ERR_STORE_UNAVAILABLE' })
    await t.rejects(store.pluginState('xmpp').get('k'), { code: 'PARLEY_ERR_STORE_UNAVAILABLE' })

    await proxy.restore()
    t.match(
      await store.messages.get(id),
      { id, status: 'queued' },
      'works again once the database is back',
    )
  },
)

t.test(
  'a SQLite file locked by another writer past the busy timeout is PARLEY_ERR_STORE_UNAVAILABLE',
  async (t) => {
    const { config, cleanup } = await freshDatabase('sqlite')
    t.teardown(cleanup)
    const store = await openStore({ ...config, sqliteBusyTimeoutMs: 100 })
    t.teardown(() => store.close())
    // A second connection, as another process would have, holding the write lock.
    const other = createDataSource(config)
    await other.initialize()
    t.teardown(() => other.destroy())
    await other.query('BEGIN IMMEDIATE')
    const started = Date.now()
    await t.rejects(
      store.messages.createOutbound({
        id: randomUUID(),
        network: 'xmpp',
        from: 'xmpp:a@x.org',
        to: 'xmpp:b@y.org',
        text: 'hi',
      }),
      { code: 'PARLEY_ERR_STORE_UNAVAILABLE', message: /locked/ },
    )
    t.ok(Date.now() - started >= 90, 'it waited for the lock first')
    await other.query('ROLLBACK')
    const { created } = await store.messages.createOutbound({
      id: randomUUID(),
      network: 'xmpp',
      from: 'xmpp:a@x.org',
      to: 'xmpp:b@y.org',
      text: 'hi',
    })
    t.equal(created, true, 'writes go through once the lock is released')
  },
)
