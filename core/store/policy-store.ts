import type { DataSource } from 'typeorm'
import { isoNow, PolicyVersion } from './entities/index.js'
import { selectColumns } from './select-columns.js'

export interface StoredPolicy {
  version: number
  /** The policy document as stored (JSON-parsed, not validated here). */
  document: unknown
  author: string
  summary: string
  createdAt: string
}

export interface PolicyStore {
  /** The newest version, or undefined when no policy was ever stored. */
  current(): Promise<StoredPolicy | undefined>
  /**
   * Stores `document` as version `after + 1`. Returns the stored version, or
   * undefined when version `after + 1` exists already (another edit won: re-read
   * and retry). `after` is 0 for the first version.
   */
  append(
    after: number,
    document: unknown,
    meta: { author: string; summary: string },
  ): Promise<StoredPolicy | undefined>
  /** The newest `limit` versions, newest first, without their documents. */
  history(limit: number): Promise<Array<Omit<StoredPolicy, 'document'>>>
}

export function createPolicyStore(ds: DataSource): PolicyStore {
  const repo = () => ds.getRepository(PolicyVersion)
  const parse = (row: PolicyVersion): StoredPolicy => ({
    version: Number(row.version),
    document: JSON.parse(row.document) as unknown,
    author: row.author,
    summary: row.summary,
    createdAt: row.createdAt,
  })

  return {
    async current() {
      const row = await selectColumns(ds, PolicyVersion, 'p')
        .orderBy('p.version', 'DESC')
        .limit(1)
        .getRawOne<PolicyVersion>()
      return row ? parse(row) : undefined
    },

    async append(after, document, meta) {
      const row = {
        version: after + 1,
        document: JSON.stringify(document),
        author: meta.author.slice(0, 160),
        summary: meta.summary.slice(0, 500),
        createdAt: isoNow(),
      }
      try {
        await repo().insert(row)
      } catch (error) {
        // The primary key is the lock: someone else stored this version first.
        if (await repo().existsBy({ version: row.version })) return undefined
        throw error
      }
      return { ...row, document }
    },

    async history(limit) {
      const rows = await ds
        .createQueryBuilder(PolicyVersion, 'p')
        .select('p.version', 'version')
        .addSelect('p.author', 'author')
        .addSelect('p.summary', 'summary')
        .addSelect('p.created_at', 'createdAt')
        .orderBy('p.version', 'DESC')
        .limit(Math.max(1, Math.min(limit, 1000)))
        .getRawMany<Omit<StoredPolicy, 'document'>>()
      return rows.map((r) => ({ ...r, version: Number(r.version) }))
    },
  }
}
