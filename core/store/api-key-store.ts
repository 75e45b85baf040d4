import { randomUUID } from 'node:crypto'
import type { DataSource } from 'typeorm'
import {
  generateKey,
  hashSecret,
  isScope,
  parseKey,
  SCOPES,
  type Scope,
  secretMatches,
} from '../auth/keys.js'
import { parleyError } from '../contract/errors.js'
import { ApiKey, isoNow } from './entities/index.js'
import { selectColumns } from './select-columns.js'
import { optionalString, requireUuid } from './validate-input.js'

/** last_used_at is written at most this often per key (not on every request). */
export const LAST_USED_RESOLUTION_MS = 60_000

export interface NewApiKey {
  /** A label for people (up to 128 characters). @defaultValue `key <prefix>` */
  name?: string
  /** At least one of `SCOPES`. */
  scopes: readonly string[]
}

export interface CreatedApiKey {
  id: string
  /** The plain key: returned here only, never stored, never shown again. */
  key: string
  name: string
  scopes: Scope[]
  createdAt: string
}

export interface VerifiedApiKey {
  id: string
  name: string
  scopes: Scope[]
}

/** A key as listed: no hash, no secret. */
export interface ApiKeyInfo {
  id: string
  name: string
  prefix: string
  scopes: Scope[]
  createdAt: string
  lastUsedAt: string | null
  revokedAt: string | null
}

/** What `adopt` found: the key was stored now, was already there, or is there revoked. */
export type AdoptResult = 'stored' | 'known' | 'revoked'

/**
 * The id of the admin key the host generates at first start (see
 * `bootstrapAdmin`). A fixed primary key makes concurrent first starts
 * agree: only one insert can win.
 */
export const BOOTSTRAP_KEY_ID = '00000000-0000-4000-8000-00000000b007'
export const BOOTSTRAP_KEY_NAME = 'bootstrap admin key'

export interface ApiKeyStore {
  /** Rejects with PARLEY_ERR_VALIDATION for a bad name or an empty or unknown scope. */
  create(input: NewApiKey): Promise<CreatedApiKey>
  /** The key's identity and scopes, or undefined if malformed, unknown, revoked or wrong. */
  verify(key: string): Promise<VerifiedApiKey | undefined>
  /** Every key, oldest first, revoked ones included. */
  list(): Promise<ApiKeyInfo[]>
  /** true if an active key was revoked; false if there is no such key or it was already revoked. */
  revoke(id: string): Promise<boolean>
  /**
   * Stores a key made elsewhere (the operator's PARLEY_ADMIN_KEY), hashed,
   * so every host sharing the database recognises it. Idempotent, also when
   * hosts adopt the same key at once. Rejects with PARLEY_ERR_VALIDATION for
   * a malformed key, or one whose prefix belongs to another key.
   */
  adopt(key: string, input: NewApiKey): Promise<AdoptResult>
  /**
   * Creates the bootstrap admin key (id `BOOTSTRAP_KEY_ID`) if no active key
   * has the `admin` scope, and returns it (the only time its plain key
   * exists). undefined when an active admin key exists, or another host
   * created the bootstrap key at the same moment (the fixed id lets one
   * insert win). A revoked bootstrap key is kept, under a new id.
   */
  bootstrapAdmin(): Promise<CreatedApiKey | undefined>
}

/** Scopes checked, deduplicated and in `SCOPES` order. */
export function normalizeScopes(scopes: unknown): Scope[] {
  if (!Array.isArray(scopes) || scopes.length === 0) {
    throw parleyError(
      'PARLEY_ERR_VALIDATION',
      `scopes must list at least one of ${SCOPES.join(', ')}`,
    )
  }
  for (const scope of scopes) {
    if (!isScope(scope)) {
      throw parleyError(
        'PARLEY_ERR_VALIDATION',
        `unknown scope '${String(scope)}' (known: ${SCOPES.join(', ')})`,
      )
    }
  }
  return SCOPES.filter((s) => scopes.includes(s))
}

function scopesOf(column: string): Scope[] {
  return column.split(',').filter(isScope)
}

export function createApiKeyStore(ds: DataSource): ApiKeyStore {
  const repo = () => ds.getRepository(ApiKey)

  return {
    async create(input) {
      const scopes = normalizeScopes(input?.scopes)
      const requested = optionalString('name', input?.name, 128)
      // A 32-bit prefix can collide: the unique index refuses it and we draw again.
      for (let attempt = 1; ; attempt++) {
        const { key, prefix, secret } = generateKey()
        const row = {
          id: randomUUID(),
          name: requested ?? `key ${prefix}`,
          prefix,
          hash: hashSecret(secret),
          scopes: scopes.join(','),
          createdAt: isoNow(),
          lastUsedAt: null,
          revokedAt: null,
        }
        try {
          await repo().insert(row)
        } catch (error) {
          if (attempt < 3 && (await repo().existsBy({ prefix }))) continue
          throw error
        }
        return { id: row.id, key, name: row.name, scopes, createdAt: row.createdAt }
      }
    },

    async verify(key) {
      const parsed = parseKey(key)
      if (!parsed) return undefined
      const row = await selectColumns(ds, ApiKey, 'k')
        .where('k.prefix = :prefix', { prefix: parsed.prefix })
        .getRawOne<ApiKey>()
      if (!row || row.revokedAt !== null) return undefined
      if (!secretMatches(parsed.secret, row.hash)) return undefined
      const now = Date.now()
      if (row.lastUsedAt === null || now - Date.parse(row.lastUsedAt) >= LAST_USED_RESOLUTION_MS) {
        await repo().update({ id: row.id }, { lastUsedAt: new Date(now).toISOString() })
      }
      return { id: row.id, name: row.name, scopes: scopesOf(row.scopes) }
    },

    async list() {
      const rows = await selectColumns(ds, ApiKey, 'k')
        .orderBy('k.created_at', 'ASC')
        .addOrderBy('k.id', 'ASC')
        .getRawMany<ApiKey>()
      return rows.map((row) => ({
        id: row.id,
        name: row.name,
        prefix: row.prefix,
        scopes: scopesOf(row.scopes),
        createdAt: row.createdAt,
        lastUsedAt: row.lastUsedAt,
        revokedAt: row.revokedAt,
      }))
    },

    async adopt(key, input) {
      const parsed = parseKey(key)
      if (!parsed) throw parleyError('PARLEY_ERR_VALIDATION', 'the key is not well-formed')
      const scopes = normalizeScopes(input?.scopes)
      const name = optionalString('name', input?.name, 128) ?? `key ${parsed.prefix}`
      const existing = async (): Promise<AdoptResult | undefined> => {
        const row = await repo().findOneBy({ prefix: parsed.prefix })
        if (!row) return undefined
        if (!secretMatches(parsed.secret, row.hash)) {
          throw parleyError(
            'PARLEY_ERR_VALIDATION',
            `another key already has the prefix ${parsed.prefix}; use another key`,
          )
        }
        return row.revokedAt === null ? 'known' : 'revoked'
      }
      const found = await existing()
      if (found) return found
      try {
        await repo().insert({
          id: randomUUID(),
          name,
          prefix: parsed.prefix,
          hash: hashSecret(parsed.secret),
          scopes: scopes.join(','),
          createdAt: isoNow(),
          lastUsedAt: null,
          revokedAt: null,
        })
        return 'stored'
      } catch (error) {
        // Another host adopted the same key first: the unique prefix refused ours.
        const raced = await existing()
        if (raced) return raced
        throw error
      }
    },

    async bootstrapAdmin() {
      const active = await repo()
        .createQueryBuilder('k')
        .select('k.id', 'id')
        .addSelect('k.scopes', 'scopes')
        .where('k.revoked_at IS NULL')
        .getRawMany<{ id: string; scopes: string }>()
      if (active.some((row) => scopesOf(row.scopes).includes('admin'))) return undefined
      // A revoked bootstrap key keeps its record, under a new id, and frees the fixed one.
      await ds
        .createQueryBuilder()
        .update(ApiKey)
        .set({ id: randomUUID() })
        .where('id = :id', { id: BOOTSTRAP_KEY_ID })
        .andWhere('revoked_at IS NOT NULL')
        .execute()
      for (let attempt = 1; ; attempt++) {
        const { key, prefix, secret } = generateKey()
        const row = {
          id: BOOTSTRAP_KEY_ID,
          name: BOOTSTRAP_KEY_NAME,
          prefix,
          hash: hashSecret(secret),
          scopes: 'admin',
          createdAt: isoNow(),
          lastUsedAt: null,
          revokedAt: null,
        }
        try {
          await repo().insert(row)
        } catch (error) {
          if (await repo().existsBy({ id: BOOTSTRAP_KEY_ID })) return undefined
          if (attempt < 3 && (await repo().existsBy({ prefix }))) continue
          throw error
        }
        return { id: row.id, key, name: row.name, scopes: ['admin'], createdAt: row.createdAt }
      }
    },

    async revoke(id) {
      requireUuid('id', id)
      const result = await ds
        .createQueryBuilder()
        .update(ApiKey)
        .set({ revokedAt: isoNow() })
        .where('id = :id', { id })
        .andWhere('revoked_at IS NULL')
        .execute()
      return (result.affected ?? 0) > 0
    },
  }
}
