import { parleyError } from '../contract/errors.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/*
 * The store checks shapes and lengths itself rather than leaving them to the
 * database: PostgreSQL enforces varchar(n) and SQLite does not, and the same
 * input must get the same answer on both.
 */

export function requireUuid(field: string, value: unknown): string {
  if (typeof value !== 'string' || !UUID.test(value)) {
    throw parleyError('PARLEY_ERR_VALIDATION', `${field} must be a UUID string`)
  }
  return value
}

export function requireString(field: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw parleyError('PARLEY_ERR_VALIDATION', `${field} must be a non-empty string`)
  }
  if (value.length > maxLength) {
    throw parleyError('PARLEY_ERR_VALIDATION', `${field} is longer than ${maxLength} characters`)
  }
  return value
}

/** A string (empty allowed) of any length: message text, plugin state values. */
export function requireText(field: string, value: unknown): string {
  if (typeof value !== 'string')
    throw parleyError('PARLEY_ERR_VALIDATION', `${field} must be a string`)
  return value
}

/** undefined and null become null; anything else must be a valid string. */
export function optionalString(field: string, value: unknown, maxLength: number): string | null {
  return value === undefined || value === null ? null : requireString(field, value, maxLength)
}

export function requireOneOf<T extends string>(
  field: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw parleyError('PARLEY_ERR_VALIDATION', `${field} must be one of ${allowed.join(', ')}`)
  }
  return value as T
}
