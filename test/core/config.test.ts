import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { applyEnv, loadConfig, resolveConfig } from '../../core/config/load-config.js'
import { ROOT } from '../helpers/app.js'

t.test('defaults: port 8080, SQLite under ./data, local Redis', async (t) => {
  const config = resolveConfig({})
  t.equal(config.server.port, 8080)
  t.equal(config.database.url, undefined)
  t.equal(config.database.sqlitePath, './data/parley.sqlite')
  t.equal(config.redis.url, 'redis://127.0.0.1:6379')
})

t.test('environment overrides win over the file', async (t) => {
  const config = resolveConfig(
    applyEnv(
      { server: { port: 1 } },
      {
        PORT: '9090',
        HOST: '0.0.0.0',
        DATABASE_URL: 'postgres://x@h/db',
        REDIS_URL: 'redis://h:1',
      },
    ),
  )
  t.equal(config.server.port, 9090)
  t.equal(config.server.host, '0.0.0.0')
  t.equal(config.database.url, 'postgres://x@h/db')
  t.equal(config.redis.url, 'redis://h:1')
})

t.test('the Redis prefix: a name, or a name in braces (a Redis Cluster hash tag)', async (t) => {
  t.equal(resolveConfig({ redis: { prefix: 'parley-eu' } }).redis.prefix, 'parley-eu')
  t.equal(resolveConfig({ redis: { prefix: '{parley}' } }).redis.prefix, '{parley}')
  for (const prefix of ['{parley', 'par{ley}', 'a:b', ''])
    t.throws(() => resolveConfig({ redis: { prefix } }), { message: /redis\.prefix/ }, prefix)
})

t.test('a bad field fails with one line naming it', async (t) => {
  t.throws(() => resolveConfig({ server: { port: 70000 } }), {
    code: 'PARLEY_ERR_CONFIG',
    message: /server\.port/,
  })
  t.throws(() => resolveConfig({ redis: { url: 'http://x' } }), { message: /redis\.url/ })
  t.throws(() => resolveConfig({ serv: {} } as never), {
    message: 'Invalid configuration: serv: unknown field',
  })
  t.throws(() => resolveConfig({ plugins: [{ name: 'Bad Name' }] }), {
    message: /plugins\[0\]\.name/,
  })
  t.throws(() => resolveConfig({ plugins: [{ name: 'a' }, { name: 'a' }] }), {
    message: /listed twice/,
  })
  t.throws(() => applyEnv({}, { PORT: 'eighty' }), { message: /PORT must be an integer/ })
})

t.test(
  'the default fastify.config.ts enables xmpp and echo only when XMPP_SERVICE is set',
  async (t) => {
    const without = await loadConfig(join(ROOT, 'fastify.config.ts'), {})
    t.same(without.plugins, [])
    const dir = mkdtempSync(join(tmpdir(), 'parley-cfg-'))
    const file = join(dir, 'c.ts')
    writeFileSync(
      file,
      "export default { plugins: [{ name: 'xmpp', options: {} }], server: { port: 'x' } }\n",
    )
    await t.rejects(loadConfig(file, {}), { message: /server\.port/ })
  },
)

t.test('the host refuses to start on a bad config with one clear line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-cfg-'))
  const file = join(dir, 'bad.config.ts')
  writeFileSync(file, "export default { server: { port: 'eighty' } }\n")
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'core/main.ts')], {
    cwd: ROOT,
    env: { ...process.env, PARLEY_CONFIG: file },
    encoding: 'utf8',
    timeout: 30_000,
  })
  t.equal(run.status, 1)
  t.equal(
    run.stderr.trim(),
    'parley: PARLEY_ERR_CONFIG: Invalid configuration: server.port: must be integer',
  )
})
