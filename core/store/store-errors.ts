import { parleyError } from '../contract/errors.js'

/** Socket-level failures: the database cannot be reached right now. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
])

/**
 * PostgreSQL SQLSTATEs meaning "not now" rather than "wrong query":
 * class 08 connection exceptions, 53300 too many connections,
 * 57P01..57P03 server shutting down / starting up.
 * https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
const PG_UNAVAILABLE = /^(08\d\d\d|53300|57P0[1-3])$/

/**
 * SQLite result codes meaning the file cannot be used right now: locked by
 * another writer past busy_timeout, unopenable, or an I/O failure.
 */
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR)/

/** Messages node-postgres and TypeORM use for a lost or unobtainable connection (no code set). */
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
]

function isUnavailableNode(error: Record<string, unknown>): boolean {
  const code = typeof error.code === 'string' ? error.code : undefined
  if (code === 'PARLEY_ERR_STORE_UNAVAILABLE') return true
  if (
    code &&
    (NETWORK_CODES.has(code) || PG_UNAVAILABLE.test(code) || SQLITE_UNAVAILABLE.test(code))
  ) {
    return true
  }
  const message = typeof error.message === 'string' ? error.message : ''
  return UNAVAILABLE_MESSAGES.some((m) => message.includes(m))
}

/**
 * True when `error` says the database is unreachable or refusing work for
 * now (connection refused or lost, server shutting down, SQLite file locked),
 * as opposed to a bad query or a constraint. Looks through TypeORM's
 * `driverError`, `cause` and AggregateError's `errors` (Node reports a
 * refused `localhost` as one per address family). Callers map it to
 * PARLEY_ERR_STORE_UNAVAILABLE (503, retryable); `toStoreError` does that.
 */
export function isStoreUnavailable(error: unknown): boolean {
  const seen = new Set<unknown>()
  const pending: unknown[] = [error]
  while (pending.length > 0) {
    const current = pending.pop()
    if (current === null || typeof current !== 'object' || seen.has(current)) continue
    seen.add(current)
    const node = current as Record<string, unknown>
    if (isUnavailableNode(node)) return true
    pending.push(node.driverError, node.cause)
    if (Array.isArray(node.errors)) pending.push(...node.errors)
  }
  return false
}

/**
 * `error` as PARLEY_ERR_STORE_UNAVAILABLE (with the original as `cause`)
 * when the database is unavailable; otherwise `error` unchanged.
 */
export function toStoreError(error: unknown): unknown {
  if (!isStoreUnavailable(error)) return error
  if ((error as { code?: unknown }).code === 'PARLEY_ERR_STORE_UNAVAILABLE') return error
  const reason = describe(error)
  const wrapped = parleyError('PARLEY_ERR_STORE_UNAVAILABLE', reason)
  ;(wrapped as Error).cause = error
  return wrapped
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ')
  }
  if (error instanceof Error && error.message) return error.message
  return String(error)
}
