import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { buildApp } from '../../../core/app.js'
import { generateKey } from '../../../core/auth/keys.js'
import { applyEnv, resolveConfig } from '../../../core/config/load-config.js'
import { deleteRedisPrefix, REDIS_URL, ROOT, testConfig } from '../../helpers/app.js'

const KEY = /pk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}/
const TSX = import.meta.resolve('tsx')

interface Host {
  stdout: string
  stderr: string
  port: number
  stop(): Promise<number | null>
}

/** A temporary database and Redis prefix, and a config file naming them, for `npm start`. */
async function deployment(t: Test) {
  const dir = await mkdtemp(join(tmpdir(), 'parley-bootstrap-'))
  const prefix = `ptest-${randomUUID().slice(0, 8)}`
  t.teardown(async () => {
    await rm(dir, { recursive: true, force: true })
    await deleteRedisPrefix(prefix)
  })
  const file = join(dir, 'parley.config.mjs')
  await writeFile(
    file,
    `export default ${JSON.stringify({
      server: { port: 0, logLevel: 'info' },
      database: { sqlitePath: join(dir, 'parley.sqlite') },
      redis: { url: REDIS_URL, prefix },
    })}\n`,
  )
  return { file }
}

/** Runs core/main.ts as `npm start` does, until it logs 'parley is up' (or exits). */
function startHost(config: string, env: Record<string, string> = {}): Promise<Host> {
  const { DATABASE_URL: _d, PARLEY_ADMIN_KEY: _k, PORT: _p, ...inherited } = process.env
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', TSX, join(ROOT, 'core/main.ts')],
    {
      cwd: ROOT,
      env: { ...inherited, PARLEY_CONFIG: config, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const host = {
    stdout: '',
    stderr: '',
    port: 0,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode
      child.kill('SIGTERM')
      return new Promise<number | null>((resolve) => child.once('exit', resolve))
    },
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start in 30 s:\n${host.stderr}`)), 30_000)
    child.stderr?.on('data', (d: Buffer) => {
      host.stderr += String(d)
    })
    child.stdout?.on('data', (d: Buffer) => {
      host.stdout += String(d)
      const listening = /"msg":"Server listening at http:\/\/127\.0\.0\.1:(\d+)"/.exec(host.stdout)
      if (listening) host.port = Number(listening[1])
      if (host.stdout.includes('"msg":"parley is up"')) {
        // The summary (and the bootstrap key) follow 'parley is up' in the same tick or the next.
        setTimeout(() => {
          clearTimeout(timer)
          resolve(host)
        }, 500)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(Object.assign(new Error(`exited with ${code}`), { host }))
    })
  })
}

t.test('first start prints a generated admin key once; the next start does not', async (t) => {
  const { file } = await deployment(t)
  const first = await startHost(file)
  t.teardown(() => first.stop())
  const printed = KEY.exec(first.stderr)?.[0]
  t.ok(printed, 'the key is on stderr')
  t.match(first.stderr, /shown this once and never again/)
  t.notOk(KEY.test(first.stdout), 'the key is not in the structured log')
  t.match(first.stdout, /bootstrap admin key generated and printed on stderr/)
  const base = `http://127.0.0.1:${first.port}`
  const open = await fetch(`${base}/v1/networks`)
  t.equal(open.status, 401, 'never an open API')
  const keys = await fetch(`${base}/v1/keys`, { headers: { authorization: `Bearer ${printed}` } })
  t.equal(keys.status, 200, 'the printed key is an admin key')
  t.match(((await keys.json()) as { keys: unknown[] }).keys, [
    { name: 'bootstrap admin key', scopes: ['admin'] },
  ])
  t.equal(await first.stop(), 0)

  const second = await startHost(file)
  t.teardown(() => second.stop())
  t.notOk(KEY.test(second.stderr + second.stdout), 'no key printed on a later start')
  const again = await fetch(`http://127.0.0.1:${second.port}/v1/keys`, {
    headers: { authorization: `Bearer ${printed}` },
  })
  t.equal(again.status, 200, 'the first key still works')
  t.equal(((await again.json()) as { keys: unknown[] }).keys.length, 1, 'and is the only one')
  t.equal(await second.stop(), 0)
})

t.test('with PARLEY_ADMIN_KEY set, nothing is generated and that key works', async (t) => {
  const { file } = await deployment(t)
  const { key } = generateKey()
  const host = await startHost(file, { PARLEY_ADMIN_KEY: key })
  t.teardown(() => host.stop())
  t.notOk(KEY.test(host.stderr + host.stdout), 'no key printed, not even the configured one')
  const res = await fetch(`http://127.0.0.1:${host.port}/v1/keys`, {
    headers: { authorization: `Bearer ${key}` },
  })
  t.equal(res.status, 200)
  t.match(((await res.json()) as { keys: unknown[] }).keys, [
    { name: 'configured admin key', prefix: key.slice(3, 11), scopes: ['admin'] },
  ])
})

t.test('a malformed PARLEY_ADMIN_KEY stops the host with PARLEY_ERR_CONFIG', async (t) => {
  const { file } = await deployment(t)
  const bad = `pk_0123abcd_${'x'.repeat(20)}-secret-part`
  const failed = await startHost(file, { PARLEY_ADMIN_KEY: bad }).then(
    () => undefined,
    (error: Error & { host: Host }) => error.host,
  )
  if (!failed) {
    t.fail('the host started')
    return
  }
  t.match(failed.stderr, /^parley: PARLEY_ERR_CONFIG: .*PARLEY_ADMIN_KEY is not a well-formed key/m)
  t.notOk(failed.stderr.includes('secret-part'), 'the value is not echoed')
  t.throws(() => applyEnv({}, { PARLEY_ADMIN_KEY: bad }), { code: 'PARLEY_ERR_CONFIG' })
  t.throws(() => resolveConfig({ security: { adminKey: 'pk_short' } }), {
    code: 'PARLEY_ERR_CONFIG',
    message: /security\.adminKey/,
  })
})

t.test('the configured admin key works on every host sharing the database', async (t) => {
  const withKey = testConfig(t)
  const key = withKey.security.adminKey as string
  const a = await buildApp(withKey, { rootDir: ROOT })
  t.teardown(() => a.close())
  // Another process on the same database and Redis, started without the key configured.
  const b = await buildApp(
    { ...withKey, security: { ...withKey.security, adminKey: undefined } },
    { rootDir: ROOT },
  )
  t.teardown(() => b.close())
  for (const host of [a, b]) {
    const res = await host.inject({
      url: '/v1/keys',
      headers: { authorization: `Bearer ${key}` },
    })
    t.equal(res.statusCode, 200)
  }
  t.equal(await b.auth.bootstrap(), undefined, 'an admin key exists: none generated')
})

t.test('a revoked configured admin key stops the host', async (t) => {
  const config = testConfig(t)
  const a = await buildApp(config, { rootDir: ROOT })
  const [stored] = await a.store.apiKeys.list()
  await a.store.apiKeys.revoke(stored?.id as string)
  await a.close()
  await t.rejects(buildApp(config, { rootDir: ROOT }), {
    code: 'PARLEY_ERR_CONFIG',
    message: /was revoked; configure another key/,
  })
})
