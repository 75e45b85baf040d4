/**
 * API keys: format, hashing and comparison. No I/O here; the rows live in
 * core/store/api-key-store.ts.
 *
 * A key reads `pk_<prefix>_<secret>`: `prefix` is 8 lowercase hex characters
 * (4 random bytes), public, and finds the key's row; `secret` is 32 random
 * bytes as base64url (43 characters) and only its SHA-256 is stored.
 * Routes check keys in core/http/auth.ts (docs/security.md).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** Every scope a key can carry (`metrics:read`: GET /metrics, for a Prometheus server). */
export const SCOPES = [
  'presence:read',
  'messages:send',
  'contacts:write',
  'metrics:read',
  'admin',
] as const
export type Scope = (typeof SCOPES)[number]

export const KEY_PREFIX_LENGTH = 8
export const KEY_SECRET_LENGTH = 43

/** A well-formed key, as a JSON Schema pattern (the config's `security.adminKey`). */
export const KEY_PATTERN = '^pk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$'
const KEY = new RegExp(KEY_PATTERN)

export interface ParsedKey {
  prefix: string
  secret: string
}

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value)
}

/** A new random key and its parts. */
export function generateKey(): { key: string; prefix: string; secret: string } {
  const prefix = randomBytes(KEY_PREFIX_LENGTH / 2).toString('hex')
  const secret = randomBytes(32).toString('base64url')
  return { key: formatKey(prefix, secret), prefix, secret }
}

export function formatKey(prefix: string, secret: string): string {
  return `pk_${prefix}_${secret}`
}

/**
 * The parts of a well-formed key, else undefined. Parsed by position, not by
 * splitting on `_`: base64url secrets may contain `_`.
 */
export function parseKey(key: unknown): ParsedKey | undefined {
  if (typeof key !== 'string') return undefined
  const match = KEY.exec(key)
  if (!match) return undefined
  return { prefix: match[1] as string, secret: match[2] as string }
}

/**
 * Hex SHA-256 of a secret. A fast hash suffices because the secret is 256
 * random bits (GitHub-style tokens do the same); slow salted hashes (argon2,
 * scrypt) are for low-entropy, human-chosen passwords.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}

/** Whether the key carries `scope`: `admin` implies every scope. */
export function grants(scopes: readonly Scope[], scope: Scope): boolean {
  return scopes.includes(scope) || scopes.includes('admin')
}

/** Whether `secret` hashes to `storedHash`, compared in constant time. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const actual = Buffer.from(hashSecret(secret), 'hex')
  const expected = Buffer.from(storedHash, 'hex')
  // Both are SHA-256 digests (32 bytes) unless the stored value is corrupt.
  if (expected.length !== actual.length) return false
  return timingSafeEqual(actual, expected)
}
