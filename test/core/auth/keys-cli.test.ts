import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { openStore } from '../../../core/store/store.js'
import { runCli } from '../../helpers/cli.js'

const KEY = /^key: (pk_[0-9a-f]{8}_[A-Za-z0-9_-]{43})$/

const cli = (args: string[], env: Record<string, string | undefined>, cwd?: string) =>
  runCli('core/auth/keys-cli.ts', args, env, cwd)

async function tempDb(t: Test): Promise<{ file: string; env: Record<string, string> }> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-keys-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'keys.sqlite')
  return { file, env: { DATABASE_URL: `sqlite:${file}` } }
}

t.test('create prints the key once, list and revoke manage it', async (t) => {
  const { file, env } = await tempDb(t)

  const created = await cli(
    ['create', '--scopes', 'presence:read,messages:send', '--name', 'ci bot'],
    env,
  )
  t.equal(created.code, 0, created.stderr.join('\n'))
  t.same(created.stderr, [])
  t.equal(created.stdout[0], `database: sqlite ${file}`)
  const header = /^created key ([0-9a-f-]{36}) \(ci bot\) with scopes presence:read,messages:send$/
  t.match(created.stdout[1], header)
  const id = header.exec(created.stdout[1] ?? '')?.[1] ?? ''
  const key = KEY.exec(created.stdout[2] ?? '')?.[1] ?? ''
  t.ok(key, 'the key is printed')
  t.match(created.stdout.slice(3).join(' '), /only time the key is shown.*only its hash/)

  const store = await openStore({ sqlitePath: file, migrate: false })
  t.same(await store.apiKeys.verify(key), {
    id,
    name: 'ci bot',
    scopes: ['presence:read', 'messages:send'],
  })
  await store.close()

  const second = await cli(['create', '--scopes=admin'], env)
  t.equal(second.code, 0, second.stderr.join('\n'))

  const list = await cli(['list'], env)
  t.equal(list.code, 0)
  t.equal(list.stdout.length, 3)
  t.match(
    list.stdout[1],
    new RegExp(
      `^${id} pk_${key.slice(3, 11)}_… active scopes=presence:read,messages:send name="ci bot" created=\\S+Z last_used=\\S+Z$`,
    ),
  )
  t.match(list.stdout[2], /active scopes=admin name="key [0-9a-f]{8}" .* last_used=never$/)
  t.notOk(list.stdout.join('\n').includes(key.slice(12)), 'no secret listed')

  const revoked = await cli(['revoke', id], env)
  t.equal(revoked.code, 0, revoked.stderr.join('\n'))
  t.same(revoked.stdout.slice(1), [`revoked ${id}`])
  const after = await cli(['list'], env)
  t.match(after.stdout[1], new RegExp(`^${id} \\S+ revoked \\S+Z scopes=`))

  const again = await cli(['revoke', id], env)
  t.equal(again.code, 1)
  t.same(again.stderr, [`error: no active API key with id ${id}`])
})

t.test('list on an empty database says so', async (t) => {
  const { env } = await tempDb(t)
  const run = await cli(['list'], env)
  t.equal(run.code, 0, run.stderr.join('\n'))
  t.same(run.stdout.slice(1), ['no API keys'])
})

t.test('an unknown scope exits 1 with PARLEY_ERR_VALIDATION and stores nothing', async (t) => {
  const { env } = await tempDb(t)
  const run = await cli(['create', '--scopes', 'presence:read,root'], env)
  t.equal(run.code, 1)
  t.same(run.stderr.length, 1)
  t.match(run.stderr[0], /^PARLEY_ERR_VALIDATION: .*unknown scope 'root'/)
  t.same((await cli(['list'], env)).stdout.slice(1), ['no API keys'])
})

t.test('bad usage exits 1 with a reason and the usage, touching no database', async (t) => {
  const { env } = await tempDb(t)
  const cases: Array<[string[], RegExp]> = [
    [[], /no command given/],
    [['frob'], /unknown command 'frob'/],
    [['create'], /create needs --scopes/],
    [['create', '--scopes'], /--scopes needs a value/],
    [['create', '--scopes', 'admin', '--force'], /unknown option '--force'/],
    [['list', 'extra'], /list takes no arguments/],
    [['revoke'], /revoke takes exactly one key id/],
    [['generate', '--scopes', 'admin'], /generate takes no arguments/],
  ]
  for (const [args, reason] of cases) {
    const run = await cli(args, env)
    t.equal(run.code, 1, args.join(' '))
    t.same(run.stdout, [], 'nothing on stdout')
    t.match(run.stderr[0], reason)
    t.match(run.stderr[1], /^usage: keys-cli\.ts create --scopes/)
  }
  const badId = await cli(['revoke', 'not-a-uuid'], env)
  t.equal(badId.code, 1)
  t.match(badId.stderr, [/^PARLEY_ERR_VALIDATION: .*id must be a UUID/])
})

t.test('generate prints a fresh well-formed key and touches no database', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-keys-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'untouched.sqlite')
  const one = await cli(['generate'], { DATABASE_URL: `sqlite:${file}` })
  const two = await cli(['generate'], { DATABASE_URL: `sqlite:${file}` })
  t.equal(one.code, 0)
  t.same(one.stderr, [])
  t.equal(
    one.stdout.length,
    1,
    'only the key, so it can be captured: KEY=$(npm run -s keys -- generate)',
  )
  t.match(one.stdout[0], /^pk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/)
  t.not(one.stdout[0], two.stdout[0])
  t.equal(existsSync(file), false, 'no database created')
})
