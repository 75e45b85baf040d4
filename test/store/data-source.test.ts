import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import t from 'tap'
import {
  createDataSource,
  DEFAULT_SQLITE_PATH,
  MIGRATIONS_TABLE,
  redactUrl,
  resolveTarget,
} from '../../core/store/data-source.js'
import { migrations } from '../../migrations/index.js'
import { PG_TEST_URL, testDataSource } from './fixtures/backends.js'

t.test('postgres:// and postgresql:// URLs select PostgreSQL', async (t) => {
  t.same(resolveTarget({ url: 'postgres://u@h/db' }), {
    driver: 'postgres',
    url: 'postgres://u@h/db',
  })
  t.same(resolveTarget({ url: 'postgresql://u@h/db', schema: 's1' }), {
    driver: 'postgres',
    url: 'postgresql://u@h/db',
    schema: 's1',
  })
})

t.test('no URL selects SQLite at sqlitePath, else at ./data/parley.sqlite', async (t) => {
  t.same(resolveTarget({}), { driver: 'better-sqlite3', database: resolve(DEFAULT_SQLITE_PATH) })
  t.same(resolveTarget({ url: '' }), {
    driver: 'better-sqlite3',
    database: resolve(DEFAULT_SQLITE_PATH),
  })
  t.same(resolveTarget({ sqlitePath: '/tmp/x/y.sqlite' }), {
    driver: 'better-sqlite3',
    database: '/tmp/x/y.sqlite',
  })
  t.same(resolveTarget({ sqlitePath: ':memory:' }), {
    driver: 'better-sqlite3',
    database: ':memory:',
  })
})

t.test('sqlite: URLs select SQLite at their path', async (t) => {
  t.same(resolveTarget({ url: 'sqlite:/var/x.sqlite' }), {
    driver: 'better-sqlite3',
    database: '/var/x.sqlite',
  })
  t.same(resolveTarget({ url: 'sqlite:///var/x.sqlite' }), {
    driver: 'better-sqlite3',
    database: '/var/x.sqlite',
  })
  t.same(resolveTarget({ url: 'sqlite:rel/x.sqlite' }), {
    driver: 'better-sqlite3',
    database: resolve('rel/x.sqlite'),
  })
  t.same(resolveTarget({ url: 'sqlite::memory:' }), {
    driver: 'better-sqlite3',
    database: ':memory:',
  })
})

t.test(
  'a URL for another database is a configuration error, with its password hidden',
  async (t) => {
    t.throws(() => resolveTarget({ url: 'mysql://root:hunter2@db/parley' }), {
      code: 'PARLEY_ERR_CONFIG',
      message: /mysql:\/\/root:\*\*\*@db\/parley/,
    })
    t.equal(redactUrl('postgres://u:secret@h:5432/db'), 'postgres://u:***@h:5432/db')
    t.equal(redactUrl('postgres://u@h/db'), 'postgres://u@h/db')
  },
)

t.test('the SQLite DataSource never synchronizes and lists every migration', async (t) => {
  const ds = createDataSource({ sqlitePath: ':memory:' })
  t.equal(ds.options.type, 'better-sqlite3')
  t.equal(ds.options.synchronize, false)
  t.equal(ds.options.migrationsRun, false)
  t.equal(ds.options.migrationsTableName, MIGRATIONS_TABLE)
  t.same(ds.options.migrations, migrations)
  t.equal(migrations.length, 6)
})

t.test('the PostgreSQL DataSource never synchronizes and uses the given schema', async (t) => {
  const ds = createDataSource({ url: PG_TEST_URL, schema: 'parley_x', poolSize: 3 })
  t.equal(ds.options.type, 'postgres')
  t.equal(ds.options.synchronize, false)
  t.match(ds.options, { schema: 'parley_x', poolSize: 3, applicationName: 'parley' })
})

t.test(
  'SQLite opens in WAL mode with synchronous NORMAL, a busy timeout and foreign keys',
  async (t) => {
    const { ds } = await testDataSource(t, 'sqlite')
    const pragma = async (name: string) => Object.values((await ds.query(`PRAGMA ${name}`))[0])[0]
    t.equal(await pragma('journal_mode'), 'wal')
    t.equal(await pragma('synchronous'), 1, 'NORMAL')
    t.equal(await pragma('busy_timeout'), 5000)
    t.equal(await pragma('foreign_keys'), 1)
    t.equal(await pragma('temp_store'), 2, 'MEMORY')
  },
)

t.test('the default SQLite file is ./data/parley.sqlite and its folder is created', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-cwd-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  t.chdir(dir)
  const ds = createDataSource()
  await ds.initialize()
  t.teardown(() => ds.destroy())
  t.equal(ds.options.database, join(dir, 'data', 'parley.sqlite'))
  t.ok(existsSync(join(dir, 'data', 'parley.sqlite')), 'the file exists')
})

t.test('a SQLite path in folders that do not exist yet gets them created', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-nested-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const ds = createDataSource({ sqlitePath: join(dir, 'a', 'b', 'parley.sqlite') })
  await ds.initialize()
  t.teardown(() => ds.destroy())
  t.ok(existsSync(join(dir, 'a', 'b', 'parley.sqlite')))
})
