import { EventEmitter } from 'node:events'
import type { FastifyBaseLogger } from 'fastify'
import { Redis } from 'ioredis'
import type { Availability, PresenceObservation } from '../contract/index.js'

/**
 * What Redis holds per address (one field of one hash, JSON with short keys
 * to keep 100k contacts small): availability, status, raw, observedAt,
 * source, and the stream id of the change that wrote it (its version).
 */
export interface LiveEntry {
  address: string
  availability: Availability
  status?: string
  raw?: string
  observedAt: string
  source: string
  /** Stream id (`ms-seq`) of the change that wrote it; orders versions. */
  version: string
}

/** An update offered to the store; `availability: 'unknown'` records a removed watch. */
export type LiveUpdate = Omit<LiveEntry, 'version' | 'availability'> & {
  availability: PresenceObservation['availability'] | 'unknown'
}

export interface Accepted {
  entry: LiveEntry
  /** What the address had before, if anything. */
  previous?: LiveEntry
}

interface Wire {
  a: Availability
  s?: string
  r?: string
  t: string
  o: string
  v?: string
}

function toWire(u: LiveUpdate): string {
  const w: Wire = { a: u.availability, t: u.observedAt, o: u.source }
  if (u.status !== undefined) w.s = u.status
  if (u.raw !== undefined) w.r = u.raw
  return JSON.stringify(w)
}

function fromWire(address: string, json: string, version?: string): LiveEntry | undefined {
  try {
    const w = JSON.parse(json) as Wire
    if (typeof w.a !== 'string' || typeof w.t !== 'string') return undefined
    return {
      address,
      availability: w.a,
      observedAt: w.t,
      source: w.o,
      version: version ?? w.v ?? '0-0',
      ...(w.s !== undefined && { status: w.s }),
      ...(w.r !== undefined && { raw: w.r }),
    }
  } catch {
    return undefined
  }
}

/** Compares stream ids `ms-seq` numerically. */
export function compareVersions(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am - bm || as - bs
}

/**
 * Latest wins, in one round trip per batch: an update older (by observedAt)
 * than what the address has is dropped; an accepted one is appended to the
 * change stream (its id becomes the version) and stored in the hash.
 * Returns, per accepted update: address, stream id, previous JSON or false.
 */
const APPLY_SCRIPT = `
local out = {}
local maxlen = ARGV[1]
for i = 2, #ARGV, 3 do
  local address, body, observed = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local current = redis.call('HGET', KEYS[1], address)
  local newer = true
  if current then
    local ok, old = pcall(cjson.decode, current)
    if ok and type(old) == 'table' and type(old.t) == 'string' and old.t > observed then newer = false end
  end
  if newer then
    local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*', 'p', address, 'd', body)
    redis.call('HSET', KEYS[1], address, string.sub(body, 1, -2) .. ',"v":"' .. id .. '"}')
    out[#out + 1] = address
    out[#out + 1] = id
    out[#out + 1] = current or false
  end
end
return out
`

interface LiveStoreEvents {
  /** A change this process learnt of (its own or another process's), in stream order. */
  change: [entry: LiveEntry]
}

export interface LiveStoreOptions {
  redisUrl: string
  /** Key prefix shared by every host process (the BullMQ prefix). */
  prefix: string
  /** The host's producer connection (non-blocking commands). */
  redis: Redis
  streamMaxLen: number
  log: FastifyBaseLogger
}

/** Entries kept for addresses Redis had nothing for, before that cache is cleared. */
const MAX_NEGATIVE = 50_000

/**
 * Current presence, shared by every host process through Redis, with a
 * process-local cache kept coherent by reading the change stream: every
 * write (from any process) is appended to one Redis stream, and each
 * process follows it with a blocking XREAD, updating its cache and telling
 * its listeners (SSE streams). Reads are served from the cache; a miss costs
 * one HMGET, after which the stream keeps the entry current.
 */
export class LivePresenceStore extends EventEmitter<LiveStoreEvents> {
  readonly hashKey: string
  readonly streamKey: string
  private readonly cache = new Map<string, LiveEntry>()
  /** Addresses Redis had nothing for (cleared when large; the stream fills in writes). */
  private readonly absent = new Set<string>()
  private reader: Redis | undefined
  private lastId = '0-0'
  private running = false
  private loop: Promise<void> | undefined

  constructor(private readonly options: LiveStoreOptions) {
    super()
    this.setMaxListeners(0)
    this.hashKey = `${options.prefix}:presence:current`
    this.streamKey = `${options.prefix}:presence:changes`
    options.redis.defineCommand('parleyPresenceApply', { numberOfKeys: 2, lua: APPLY_SCRIPT })
  }

  /** Starts following the change stream from its current end. */
  async start(): Promise<void> {
    const last = (await this.options.redis.xrevrange(this.streamKey, '+', '-', 'COUNT', 1)) as [
      string,
      string[],
    ][]
    this.lastId = last[0]?.[0] ?? '0-0'
    this.reader = new Redis(this.options.redisUrl, { maxRetriesPerRequest: null })
    this.reader.on('error', (err) =>
      this.options.log.warn({ err: err.message }, 'presence stream reader: redis error'),
    )
    this.running = true
    this.loop = this.follow()
  }

  async close(): Promise<void> {
    this.running = false
    this.reader?.disconnect()
    await this.loop?.catch(() => undefined)
  }

  /** Applies updates (latest wins per address); resolves with the accepted ones. */
  async apply(updates: LiveUpdate[]): Promise<Accepted[]> {
    if (updates.length === 0) return []
    // One update per address: the newest (the last of equals), as Redis would end up with.
    const byAddress = new Map<string, LiveUpdate>()
    for (const u of updates) {
      const seen = byAddress.get(u.address)
      if (!seen || seen.observedAt <= u.observedAt) byAddress.set(u.address, u)
    }
    const args: string[] = [String(this.options.streamMaxLen)]
    for (const u of byAddress.values()) args.push(u.address, toWire(u), u.observedAt)
    const redis = this.options.redis as Redis & {
      parleyPresenceApply(k1: string, k2: string, ...args: string[]): Promise<(string | null)[]>
    }
    const out = await redis.parleyPresenceApply(this.hashKey, this.streamKey, ...args)
    const accepted: Accepted[] = []
    for (let i = 0; i < out.length; i += 3) {
      const address = out[i] as string
      const version = out[i + 1] as string
      const update = byAddress.get(address)
      if (!update) continue
      // An explicit literal: a spread gives each entry its own hidden class (≈280 B more each).
      const entry: LiveEntry = {
        address,
        availability: update.availability,
        observedAt: update.observedAt,
        source: update.source,
        version,
        ...(update.status !== undefined && { status: update.status }),
        ...(update.raw !== undefined && { raw: update.raw }),
      }
      const previousJson = out[i + 2]
      const previous = previousJson ? fromWire(address, previousJson) : undefined
      this.remember(entry)
      accepted.push(previous ? { entry, previous } : { entry })
    }
    return accepted
  }

  /** Current entries for `addresses` (undefined where Redis has none). */
  async getMany(addresses: string[]): Promise<(LiveEntry | undefined)[]> {
    const missing: string[] = []
    for (const address of addresses) {
      if (!this.cache.has(address) && !this.absent.has(address)) missing.push(address)
    }
    if (missing.length > 0) {
      const values = await this.options.redis.hmget(this.hashKey, ...missing)
      missing.forEach((address, i) => {
        const json = values[i]
        const entry = json ? fromWire(address, json) : undefined
        if (entry) this.remember(entry)
        else if (!this.cache.has(address)) {
          if (this.absent.size >= MAX_NEGATIVE) this.absent.clear()
          this.absent.add(address)
        }
      })
    }
    return addresses.map((address) => this.cache.get(address))
  }

  /** Cached entry only (no Redis round trip); undefined means "ask getMany". */
  cached(address: string): LiveEntry | undefined | null {
    const entry = this.cache.get(address)
    if (entry) return entry
    return this.absent.has(address) ? null : undefined
  }

  /**
   * Changes after `afterId`, oldest first (for SSE resume). `complete` is
   * false when the stream no longer reaches back that far (trimmed).
   */
  async changesSince(
    afterId: string,
    limit = 10_000,
  ): Promise<{ entries: LiveEntry[]; complete: boolean }> {
    // Trimming removes the oldest entries first: if the oldest one left is no
    // newer than afterId, nothing after afterId is gone. (XINFO's
    // max-deleted-entry-id would be exact, but MAXLEN trimming does not set it.)
    const info = (await this.options.redis
      .xinfo('STREAM', this.streamKey)
      .catch(() => undefined)) as unknown[] | undefined
    const field = (name: string) => {
      const at = info ? info.indexOf(name) : -1
      return at >= 0 ? info?.[at + 1] : undefined
    }
    const first = (field('first-entry') as [string, string[]] | null | undefined)?.[0]
    const neverTrimmed = Number(field('entries-added')) === Number(field('length'))
    const complete =
      info === undefined ||
      neverTrimmed ||
      first === undefined ||
      compareVersions(first, afterId) <= 0
    const rows = (await this.options.redis.xrange(
      this.streamKey,
      `(${afterId}`,
      '+',
      'COUNT',
      limit,
    )) as [string, string[]][]
    return { entries: rows.flatMap(([id, fields]) => parseStreamEntry(id, fields)), complete }
  }

  /** The id of the newest change (the stream's end), or `0-0`. */
  get position(): string {
    return this.lastId
  }

  /** Forgets every cached entry (after losing the stream, the cache may be behind). */
  private resetCache(): void {
    this.cache.clear()
    this.absent.clear()
  }

  private remember(entry: LiveEntry): boolean {
    const cached = this.cache.get(entry.address)
    if (cached && compareVersions(cached.version, entry.version) >= 0) return false
    this.cache.set(entry.address, entry)
    this.absent.delete(entry.address)
    return true
  }

  private async follow(): Promise<void> {
    const reader = this.reader as Redis
    let failed = false
    while (this.running) {
      try {
        const result = (await reader.xread(
          'COUNT',
          1000,
          'BLOCK',
          5000,
          'STREAMS',
          this.streamKey,
          this.lastId,
        )) as [string, [string, string[]][]][] | null
        if (failed) {
          // The reader was cut off: what was written meanwhile may have been
          // trimmed from the stream, so the cache cannot be trusted.
          this.resetCache()
          failed = false
        }
        for (const [, rows] of result ?? []) {
          for (const [id, fields] of rows) {
            this.lastId = id
            for (const entry of parseStreamEntry(id, fields)) {
              this.remember(entry)
              this.emit('change', entry)
            }
          }
        }
      } catch (err) {
        if (!this.running) return
        failed = true
        this.options.log.warn({ err: (err as Error).message }, 'presence stream reader failed')
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
    }
  }
}

function parseStreamEntry(id: string, fields: string[]): LiveEntry[] {
  let address: string | undefined
  let body: string | undefined
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 'p') address = fields[i + 1]
    else if (fields[i] === 'd') body = fields[i + 1]
  }
  if (!address || !body) return []
  const entry = fromWire(address, body, id)
  return entry ? [entry] : []
}
