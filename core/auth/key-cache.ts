import { createHash } from 'node:crypto'
import type { ApiKeyStore, VerifiedApiKey } from '../store/api-key-store.js'

export interface KeyCacheOptions {
  keys: Pick<ApiKeyStore, 'verify'>
  /** How long a verified key is trusted without asking the database; 0: ask every time. */
  ttlMs: number
  /** Most keys kept; the oldest entry goes first. @defaultValue 10000 */
  maxEntries?: number
  now?: () => number
}

/**
 * Verified keys, remembered for `ttlMs`: the REST hot path (tens of
 * thousands of presence reads a second) must not cost a database query
 * each. Only successes are kept, so a key created on another host works at
 * once; a key revoked on another host stops working within `ttlMs`, one
 * revoked here at once (`forget`). Entries are found by the key's SHA-256,
 * so the plain key is not kept as a map key.
 */
export class KeyCache {
  private readonly entries = new Map<string, { key: VerifiedApiKey; until: number }>()
  private readonly maxEntries: number
  private readonly now: () => number

  constructor(private readonly options: KeyCacheOptions) {
    this.maxEntries = options.maxEntries ?? 10_000
    this.now = options.now ?? Date.now
  }

  /** The key if it is cached and fresh, without asking the database (no promise: the hot path). */
  cached(key: string): VerifiedApiKey | undefined {
    if (this.options.ttlMs === 0) return undefined
    const hit = this.entries.get(digestOf(key))
    return hit && hit.until > this.now() ? hit.key : undefined
  }

  async verify(key: string): Promise<VerifiedApiKey | undefined> {
    if (this.options.ttlMs === 0) return this.options.keys.verify(key)
    const digest = digestOf(key)
    const hit = this.entries.get(digest)
    const now = this.now()
    if (hit && hit.until > now) return hit.key
    if (hit) this.entries.delete(digest)
    const verified = await this.options.keys.verify(key)
    if (verified) {
      if (this.entries.size >= this.maxEntries) {
        const oldest = this.entries.keys().next().value
        if (oldest !== undefined) this.entries.delete(oldest)
      }
      this.entries.set(digest, { key: verified, until: now + this.options.ttlMs })
    }
    return verified
  }

  /** Drops key `id` (revoked on this host). */
  forget(id: string): void {
    for (const [digest, entry] of this.entries) {
      if (entry.key.id === id) this.entries.delete(digest)
    }
  }
}

function digestOf(key: string): string {
  return createHash('sha256').update(key).digest('base64')
}
