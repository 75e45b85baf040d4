import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { buildApp } from '../../core/app.js'
import { generateKey } from '../../core/auth/keys.js'
import { resolveConfig } from '../../core/config/load-config.js'
import type { ParleyConfig, ParleyConfigInput } from '../../core/config/schema.js'
import { openPolicy } from './policy.js'

export const ROOT = new URL('../../', import.meta.url).pathname
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
export const PG_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/**
 * A config isolated for one test: its own BullMQ prefix in the real Redis
 * and its own SQLite file (or PostgreSQL schema), all removed at teardown,
 * and its own admin API key (`security.adminKey`, fresh per test; send it
 * with `adminHeaders(config)`; `security: { adminKey: undefined }` for none).
 * Unless `input` has a `policy` key, the federation policy is `openPolicy()`
 * (everything the test networks carry crosses the edge); pass
 * `policy: undefined` for Lync's closed defaults.
 */
export function testConfig(t: Test, input: ParleyConfigInput = {}): ParleyConfig {
  const dir = mkdtempSync(join(tmpdir(), 'parley-test-'))
  const prefix = `ptest-${randomUUID().slice(0, 8)}`
  t.teardown(async () => {
    rmSync(dir, { recursive: true, force: true })
    await deleteRedisPrefix(prefix)
  })
  return resolveConfig({
    ...input,
    server: { logLevel: 'silent', ...input.server },
    database: { sqlitePath: join(dir, 'parley.sqlite'), ...input.database },
    redis: { url: REDIS_URL, prefix, ...input.redis },
    queues: { backoffMs: 50, backoffMaxMs: 500, pluginStartTimeoutMs: 5000, ...input.queues },
    security: { adminKey: generateKey().key, ...input.security },
    // Tests of other things need traffic to cross the edge; policy tests bring their own.
    policy: 'policy' in input ? input.policy : openPolicy(),
  })
}

/** `{ authorization: 'Bearer <the config's admin key>' }` for inject() or fetch(). */
export function adminHeaders(config: ParleyConfig): { authorization: string } {
  const key = config.security.adminKey
  if (!key) throw new Error('this test config has no admin key')
  return { authorization: `Bearer ${key}` }
}

/**
 * The host for one test (see testConfig), closed at teardown. Its `inject()`
 * sends the test's admin key unless the request sets `authorization` itself
 * (any case); `authorization: undefined` sends no header at all. Fetch-based
 * tests send `adminHeaders(app.config)`.
 */
export async function testApp(t: Test, input: ParleyConfigInput = {}) {
  const config = testConfig(t, input)
  const app = await buildApp(config, { rootDir: ROOT })
  t.teardown(() => app.close())
  return withAdminKey(app)
}

/** Makes `app.inject()` send the app's configured admin key by default (see testApp). */
export function withAdminKey<T extends FastifyInstance>(app: T): T {
  const headers = app.config.security.adminKey ? adminHeaders(app.config) : {}
  const inject = app.inject.bind(app) as (...args: unknown[]) => unknown
  const authorize = (options: unknown): unknown => {
    if (typeof options === 'string') return { url: options, headers }
    if (!options || typeof options !== 'object') return options
    const request = options as InjectOptions
    const given = { ...(request.headers as Record<string, unknown> | undefined) }
    const own = Object.keys(given).find((name) => name.toLowerCase() === 'authorization')
    if (own === undefined) return { ...request, headers: { ...headers, ...given } }
    if (given[own] === undefined) delete given[own]
    return { ...request, headers: given }
  }
  // Chained inject() (no arguments) is left alone.
  app.inject = ((...args: unknown[]) =>
    args.length === 0 ? inject() : inject(authorize(args[0]), ...args.slice(1))) as T['inject']
  return app
}

export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      if (keys.length) await redis.del(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value as NonNullable<T>
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

export function fakePlugin(key: string, options: Record<string, unknown> = {}) {
  return {
    name: 'fake',
    module: './test/helpers/fake-network/index.ts',
    options: { key, ...options },
  }
}
