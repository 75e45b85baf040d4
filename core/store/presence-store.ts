import { type DataSource, In } from 'typeorm'
import type { PresenceObservation } from '../contract/presence.js'
import { PresenceRecord } from './entities/index.js'
import { selectColumns } from './select-columns.js'

/** Rows per INSERT: 6 columns each, well under SQLite's bound-parameter limit. */
const CHUNK = 500

export interface LastKnown extends PresenceObservation {
  address: string
}

/** Last known presence per address (the database copy of what Redis holds live). */
export interface PresenceStore {
  /** Upserts every row in one transaction, with multi-row statements (rows as Redis accepted them). */
  saveMany(rows: LastKnown[]): Promise<void>
  getMany(addresses: string[]): Promise<Map<string, LastKnown>>
}

function fromRow(row: PresenceRecord): LastKnown {
  return {
    address: row.address,
    availability: row.availability,
    observedAt: row.observedAt,
    source: row.source,
    ...(row.status !== null && { status: row.status }),
    ...(row.raw !== null && { raw: row.raw }),
  }
}

export function createPresenceStore(ds: DataSource): PresenceStore {
  return {
    async saveMany(rows) {
      if (rows.length === 0) return
      await ds.transaction(async (manager) => {
        for (let i = 0; i < rows.length; i += CHUNK) {
          const values = rows.slice(i, i + CHUNK).map((r) => ({
            address: r.address,
            availability: r.availability,
            status: r.status ?? null,
            raw: r.raw ?? null,
            source: r.source,
            observedAt: r.observedAt,
          }))
          await manager
            .createQueryBuilder()
            .insert()
            .into(PresenceRecord)
            .values(values)
            .orUpdate(['availability', 'status', 'raw', 'source', 'observed_at'], ['address'])
            .updateEntity(false)
            .callListeners(false)
            .execute()
        }
      })
    },

    async getMany(addresses) {
      const found = new Map<string, LastKnown>()
      for (let i = 0; i < addresses.length; i += CHUNK) {
        const rows = await selectColumns(ds, PresenceRecord, 'p')
          .where({ address: In(addresses.slice(i, i + CHUNK)) })
          .getRawMany<PresenceRecord>()
        for (const row of rows) found.set(row.address, fromRow(row))
      }
      return found
    },
  }
}
