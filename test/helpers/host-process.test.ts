import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { deleteRedisPrefix, REDIS_URL } from './app.js'
import { startHost } from './host-process.js'
import { openPolicy } from './policy.js'

t.test(
  'the host runs as a child process: up, killed with -9, restarted on the same port',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-host-test-'))
    const prefix = `ptest-${randomUUID().slice(0, 8)}`
    t.teardown(async () => {
      rmSync(dir, { recursive: true, force: true })
      await deleteRedisPrefix(prefix)
    })
    const host = await startHost(t, {
      name: 'smoke',
      config: {
        database: { sqlitePath: join(dir, 'parley.sqlite') },
        redis: { url: REDIS_URL, prefix },
        policy: openPolicy(),
      },
    })
    t.equal(host.starts, 1)
    t.equal(host.instanceId, 'smoke-1')
    const health = await host.fetch('/health')
    t.equal(health.status, 200)
    t.equal((await host.fetch('/v1/networks')).status, 200, 'the admin key is accepted')
    t.ok(
      host.logs.some((l) => l.entry?.msg === 'parley is up'),
      'its log is captured',
    )

    const pid = host.pid
    await host.kill('SIGKILL')
    t.notOk(host.running, 'gone after kill -9')
    await t.rejects(fetch(`${host.baseUrl}/health`), 'nothing listens')

    await host.restart()
    t.equal(host.starts, 2)
    t.equal(host.instanceId, 'smoke-2', 'a new instance id per start')
    t.not(host.pid, pid)
    t.equal((await host.fetch('/health')).status, 200, 'up again on the same port')

    await host.kill('SIGSTOP')
    const paused = await Promise.race([
      fetch(`${host.baseUrl}/health`).then(() => 'answered'),
      new Promise((resolve) => setTimeout(() => resolve('silent'), 500)),
    ])
    t.equal(paused, 'silent', 'a paused host does not answer')
    await host.kill('SIGCONT')
    t.equal((await host.fetch('/health')).status, 200, 'it answers once continued')
  },
)
