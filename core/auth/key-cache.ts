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
 * revoked here at once (`forget`). Entries are found by the presented key
 * itself: a SHA-256 per request was a twentieth of the presence read's CPU
 * (bench/presence), and the plain key is in memory anyway while its request
 * is served; an entry goes when it expires or its key is revoked here.
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
    const hit = this.entries.get(key)
    return hit && hit.until > this.now() ? hit.key : undefined
  }

  async verify(key: string): Promise<VerifiedApiKey | undefined> {
    if (this.options.ttlMs === 0) return this.options.keys.verify(key)
    const hit = this.entries.get(key)
    const now = this.now()
    if (hit && hit.until > now) return hit.key
    if (hit) this.entries.delete(key)
    const verified = await this.options.keys.verify(key)
    if (verified) {
      if (this.entries.size >= this.maxEntries) {
        const oldest = this.entries.keys().next().value
        if (oldest !== undefined) this.entries.delete(oldest)
      }
      this.entries.set(key, { key: verified, until: now + this.options.ttlMs })
    }
    return verified
  }

  /** Drops key `id` (revoked on this host). */
  forget(id: string): void {
    for (const [presented, entry] of this.entries) {
      if (entry.key.id === id) this.entries.delete(presented)
    }
  }
}
