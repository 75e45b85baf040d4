import t, { type Test } from 'tap'
import type { DataSource } from 'typeorm'
import { createDataSource, MIGRATIONS_TABLE } from '../../core/store/data-source.js'
import { migrationStatus, revertLastMigration, runMigrations } from '../../core/store/migrate.js'
import { openStore } from '../../core/store/store.js'
import { migrations } from '../../migrations/index.js'
import { eachBackend, freshDatabase, testDataSource } from './fixtures/backends.js'

const NAMES = [
  'CreateIdentitiesAndContacts1795786314220',
  'CreateMessages1795786314221',
  'CreatePluginState1795786314222',
  'CreatePresenceLastKnown1795786314223',
  'CreateApiKeys1795786314224',
  'CreatePolicyVersions1795786314230',
]
/** The tables each migration creates, in the order of NAMES. */
const CREATES = [
  ['contacts', 'identities'],
  ['messages'],
  ['plugin_state'],
  ['presence_last_known'],
  ['api_keys'],
  ['policy_versions'],
]
const TABLES = CREATES.flat().sort()
/** The tables present once the first `n` migrations ran. */
const tablesAfter = (n: number) => CREATES.slice(0, n).flat().sort()

async function tables(ds: DataSource): Promise<string[]> {
  const runner = ds.createQueryRunner()
  try {
    const present: string[] = []
    for (const name of TABLES) if (await runner.hasTable(name)) present.push(name)
    return present
  } finally {
    await runner.release()
  }
}

/** The SQL TypeORM would run to make the database match the entities: none, if migrations and entities agree. */
async function drift(ds: DataSource): Promise<string[]> {
  const sql = await ds.driver.createSchemaBuilder().log()
  return sql.upQueries.map((q) => q.query)
}

async function indexNames(ds: DataSource, table: string): Promise<string[]> {
  const runner = ds.createQueryRunner()
  try {
    const found = await runner.getTable(table)
    return (found?.indices ?? []).map((i) => i.name ?? '').sort()
  } finally {
    await runner.release()
  }
}

t.test('migrations are listed oldest first with timestamped names', async (t) => {
  t.same(
    migrations.map((m) => m.name),
    NAMES,
  )
})

eachBackend(t, 'migrations go up, down one at a time, and up again', async (t: Test, backend) => {
  const { ds } = await testDataSource(t, backend)
  t.same(await tables(ds), [], 'an empty database to start')
  t.same(await runMigrations(ds), NAMES, 'every migration applied, oldest first')
  t.same(await tables(ds), TABLES)
  t.same(await drift(ds), [], 'the migrated schema is exactly what the entities describe')
  t.same(await indexNames(ds, 'messages'), [
    'ix_messages_failed',
    'ix_messages_network_created_at',
    'uq_messages_dedup_key',
  ])
  t.same(await indexNames(ds, 'api_keys'), ['uq_api_keys_prefix'])
  t.same(await runMigrations(ds), [], 'nothing pending the second time')

  for (let i = NAMES.length - 1; i >= 0; i--) {
    t.equal(await revertLastMigration(ds), NAMES[i])
    t.same(await tables(ds), tablesAfter(i), `after reverting ${NAMES[i]}`)
  }
  t.same(await tables(ds), [], 'all reverted')
  t.equal(await revertLastMigration(ds), undefined, 'nothing left to revert')

  t.same(await runMigrations(ds), NAMES, 'up again after down')
  t.same(await tables(ds), TABLES)
  t.same(await drift(ds), [])
})

eachBackend(
  t,
  'migrationStatus shows pending, then applied, migrations',
  async (t: Test, backend) => {
    const { ds } = await testDataSource(t, backend)
    t.same(
      await migrationStatus(ds),
      NAMES.map((name) => ({ name, applied: false, known: true })),
    )
    await runMigrations(ds)
    await revertLastMigration(ds)
    t.same(
      await migrationStatus(ds),
      NAMES.map((name, i) => ({ name, applied: i < NAMES.length - 1, known: true })),
    )
  },
)

eachBackend(
  t,
  'a migration applied by a newer version is reported as not in migrations/',
  async (t: Test, backend) => {
    const { ds } = await testDataSource(t, backend)
    await runMigrations(ds)
    await ds
      .createQueryBuilder()
      .insert()
      .into(ds.driver.buildTableName(MIGRATIONS_TABLE, (ds.options as { schema?: string }).schema))
      .values({ timestamp: 1900000000000, name: 'FromTheFuture1900000000000' })
      .execute()
    const status = await migrationStatus(ds)
    t.same(status.at(-1), { name: 'FromTheFuture1900000000000', applied: true, known: false })
    await t.rejects(
      revertLastMigration(ds),
      /FromTheFuture1900000000000/,
      'cannot revert what it does not know',
    )
  },
)

eachBackend(
  t,
  'a failing migration is rolled back and earlier ones stay applied',
  async (t: Test, backend) => {
    const { config, cleanup } = await freshDatabase(backend)
    t.teardown(cleanup)
    // A table named like the one the second migration creates, but without its columns:
    // createTable(…, true) leaves it alone and creating the indexes then fails.
    const setup = createDataSource(config)
    await setup.initialize()
    const table = setup.driver.buildTableName('messages', config.schema)
    await setup.query(
      `CREATE TABLE ${table
        .split('.')
        .map((part) => setup.driver.escape(part))
        .join('.')} (x integer)`,
    )
    await setup.destroy()

    await t.rejects(openStore(config), {
      code: 'PARLEY_ERR_MIGRATION',
      message: /Database migration failed: .*dedup_key/,
    })
    const ds = createDataSource(config)
    await ds.initialize()
    t.teardown(() => ds.destroy())
    t.same(
      (await migrationStatus(ds)).map((m) => m.applied),
      NAMES.map((_, i) => i === 0),
    )
    t.same(
      await tables(ds),
      ['contacts', 'identities', 'messages'],
      'plugin_state was never created',
    )
    t.same(await indexNames(ds, 'messages'), [], 'no index of the failed migration is left behind')
  },
)

t.test('two hosts migrating one PostgreSQL schema at once apply each migration once', async (t) => {
  const { config, cleanup } = await freshDatabase('postgres')
  const a = createDataSource(config)
  const b = createDataSource(config)
  await Promise.all([a.initialize(), b.initialize()])
  t.teardown(async () => {
    await Promise.all([a.destroy(), b.destroy()])
    await cleanup()
  })
  const [first, second] = await Promise.all([runMigrations(a), runMigrations(b)])
  t.same(
    [...first, ...second].sort(),
    [...NAMES].sort(),
    'each migration applied by exactly one of them',
  )
  const recorded = await a.query(
    `SELECT name FROM ${a.driver.escape(config.schema ?? '')}.${MIGRATIONS_TABLE}`,
  )
  t.equal(recorded.length, NAMES.length)
})
