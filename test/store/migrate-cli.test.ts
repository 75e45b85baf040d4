import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { runCli } from '../helpers/cli.js'
import { dropSchema, PG_TEST_URL, pgTables, uniqueSchemaName } from './fixtures/backends.js'

const NAMES = [
  'CreateIdentitiesAndContacts1795786314220',
  'CreateMessages1795786314221',
  'CreatePluginState1795786314222',
  'CreatePresenceLastKnown1795786314223',
  'CreateApiKeys1795786314224',
  'CreatePolicyVersions1795786314230',
]

const cli = (args: string[], env: Record<string, string | undefined>, cwd?: string) =>
  runCli('core/store/migrate-cli.ts', args, env, cwd)

async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-cli-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('up, status, down and up again on SQLite print one line per migration', async (t) => {
  const dir = await tempDir(t)
  const file = join(dir, 'cli.sqlite')
  const env = { DATABASE_URL: `sqlite:${file}` }

  const pending = await cli(['status'], env)
  t.equal(pending.code, 0)
  t.same(pending.stdout, [`database: sqlite ${file}`, ...NAMES.map((n) => `pending ${n}`)])

  const up = await cli(['up'], env)
  t.equal(up.code, 0, up.stderr.join('\n'))
  t.same(up.stdout, [`database: sqlite ${file}`, ...NAMES.map((n) => `applied ${n}`)])
  t.same(up.stderr, [])

  const again = await cli(['up'], env)
  t.same(again.stdout.slice(1), ['up to date: no pending migrations'])

  const applied = await cli(['status'], env)
  t.same(
    applied.stdout.slice(1),
    NAMES.map((n) => `applied ${n}`),
  )

  const down = await cli(['down'], env)
  t.equal(down.code, 0)
  const last = NAMES.at(-1)
  t.same(down.stdout.slice(1), [`reverted ${last}`])
  const afterDown = await cli(['status'], env)
  t.same(
    afterDown.stdout.slice(1),
    NAMES.map((n) => `${n === last ? 'pending' : 'applied'} ${n}`),
  )

  const reup = await cli(['up'], env)
  t.same(reup.stdout.slice(1), [`applied ${last}`])
})

t.test('down with nothing applied says so and succeeds', async (t) => {
  const dir = await tempDir(t)
  const run = await cli(['down'], { DATABASE_URL: `sqlite:${join(dir, 'x.sqlite')}` })
  t.equal(run.code, 0)
  t.same(run.stdout.slice(1), ['nothing to revert: no migration applied'])
})

t.test('without DATABASE_URL the CLI uses ./data/parley.sqlite', async (t) => {
  const dir = await tempDir(t)
  const run = await cli(['up'], {}, dir)
  t.equal(run.code, 0, run.stderr.join('\n'))
  t.equal(run.stdout[0], `database: sqlite ${join(dir, 'data', 'parley.sqlite')}`)
  t.equal(run.stdout.length, 1 + NAMES.length)
  t.ok(existsSync(join(dir, 'data', 'parley.sqlite')))
})

t.test('up and down on PostgreSQL with DATABASE_SCHEMA, creating the schema', async (t) => {
  const schema = uniqueSchemaName()
  t.teardown(() => dropSchema(schema))
  const env = { DATABASE_URL: PG_TEST_URL, DATABASE_SCHEMA: schema }
  const up = await cli(['up'], env)
  t.equal(up.code, 0, up.stderr.join('\n'))
  t.same(up.stdout, [
    `database: postgres ${PG_TEST_URL} schema ${schema}`,
    ...NAMES.map((n) => `applied ${n}`),
  ])
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
  const down = await cli(['down'], env)
  t.same(down.stdout.slice(1), [`reverted ${NAMES.at(-1)}`])
  t.same(await pgTables(schema), [
    'api_keys',
    'contacts',
    'identities',
    'messages',
    'parley_migrations',
    'plugin_state',
    'presence_last_known',
  ])
})

t.test('an unreachable database exits 1 with one PARLEY_ERR_MIGRATION line', async (t) => {
  const run = await cli(['up'], { DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:1/test' })
  t.equal(run.code, 1)
  t.same(
    run.stdout,
    ['database: postgres postgres://postgres:***@127.0.0.1:1/test'],
    'the password is not printed',
  )
  t.equal(run.stderr.length, 1)
  t.match(
    run.stderr[0],
    /^PARLEY_ERR_MIGRATION: Database migration failed: database unavailable: .*ECONNREFUSED/,
  )
})

t.test(
  'a DATABASE_URL for another database exits 1 with one PARLEY_ERR_MIGRATION line',
  async (t) => {
    const run = await cli(['status'], { DATABASE_URL: 'mysql://root@db/parley' })
    t.equal(run.code, 1)
    t.equal(run.stderr.length, 1)
    t.match(run.stderr[0], /^PARLEY_ERR_MIGRATION: .*must start with postgres:\/\//)
  },
)

t.test('an unknown command prints the usage and exits 2', async (t) => {
  for (const args of [[], ['sideways'], ['up', 'extra']]) {
    const run = await cli(args, {})
    t.equal(run.code, 2, args.join(' '))
    t.same(run.stderr, ['usage: migrate-cli.ts up|down|status'])
    t.same(run.stdout, [])
  }
})
