import pg from 'pg'
import t from 'tap'
import { QueryFailedError } from 'typeorm'
import { parleyError } from '../../core/contract/errors.js'
import { isStoreUnavailable, toStoreError } from '../../core/store/store-errors.js'

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code })
}

t.test('a refused connection from node-postgres counts as unavailable', async (t) => {
  const client = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:1/test' })
  const error = await client.connect().then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(error, 'connecting to a closed port fails')
  t.equal(isStoreUnavailable(error), true)
})

t.test('socket, PostgreSQL and SQLite availability codes count as unavailable', async (t) => {
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']) {
    t.equal(isStoreUnavailable(withCode('x', code)), true, code)
  }
  for (const code of ['08006', '08001', '57P01', '57P03', '53300']) {
    t.equal(isStoreUnavailable(withCode('x', code)), true, `SQLSTATE ${code}`)
  }
  for (const code of [
    'SQLITE_BUSY',
    'SQLITE_BUSY_SNAPSHOT',
    'SQLITE_CANTOPEN',
    'SQLITE_IOERR_WRITE',
  ]) {
    t.equal(isStoreUnavailable(withCode('x', code)), true, code)
  }
  t.equal(isStoreUnavailable(new Error('Connection terminated unexpectedly')), true)
  t.equal(isStoreUnavailable(new Error('timeout exceeded when trying to connect')), true)
})

t.test('errors nested in TypeORM, cause and AggregateError chains are found', async (t) => {
  const refused = withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')
  t.equal(isStoreUnavailable(new AggregateError([refused, refused])), true, 'AggregateError')
  t.equal(
    isStoreUnavailable(new QueryFailedError('SELECT 1', [], withCode('shutdown', '57P01'))),
    true,
    'driverError',
  )
  t.equal(isStoreUnavailable(new Error('outer', { cause: refused })), true, 'cause')
})

t.test('query mistakes and constraint violations are not unavailability', async (t) => {
  t.equal(
    isStoreUnavailable(new QueryFailedError('INSERT', [], withCode('duplicate key', '23505'))),
    false,
  )
  t.equal(isStoreUnavailable(withCode('syntax error', '42601')), false)
  t.equal(isStoreUnavailable(withCode('constraint failed', 'SQLITE_CONSTRAINT_UNIQUE')), false)
  t.equal(isStoreUnavailable(new Error('boom')), false)
  t.equal(isStoreUnavailable(undefined), false)
  t.equal(isStoreUnavailable('ECONNREFUSED'), false, 'a bare string is not an error object')
  const loop: Record<string, unknown> = { message: 'loop' }
  loop.cause = loop
  t.equal(isStoreUnavailable(loop), false, 'a cause cycle ends')
})

t.test(
  'toStoreError wraps unavailability as PARLEY_ERR_STORE_UNAVAILABLE and passes others through',
  async (t) => {
    const refused = withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')
    const wrapped = toStoreError(refused) as Error & { code: string; statusCode: number }
    t.equal(wrapped.code, 'PARLEY_ERR_STORE_UNAVAILABLE')
    t.equal(wrapped.statusCode, 503)
    t.match(wrapped.message, /ECONNREFUSED 127\.0\.0\.1:5432/)
    t.equal(wrapped.cause, refused)
    t.equal(toStoreError(wrapped), wrapped, 'already wrapped: unchanged')
    t.equal(isStoreUnavailable(parleyError('PARLEY_ERR_STORE_UNAVAILABLE', 'x')), true)
    const other = new Error('duplicate key')
    t.equal(toStoreError(other), other)
    const aggregate = toStoreError(
      new AggregateError([refused, withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')]),
    )
    t.match((aggregate as Error).message, /127\.0\.0\.1:5432; connect ECONNREFUSED ::1:5432/)
  },
)
