import 'reflect-metadata'
import { Check, Column, Entity, PrimaryColumn } from 'typeorm'
import type { Availability } from '../../contract/presence.js'
import { TIMESTAMP_COLUMN } from './timestamp.js'

/**
 * The last presence observed for an address. Redis holds the current state;
 * this row survives a restart (or a Redis flush) so Parley can still say what
 * it last knew, marked as such. Written in batches, never once per stanza.
 */
@Entity({ name: 'presence_last_known' })
@Check(
  'ck_presence_availability',
  "availability IN ('available', 'away', 'busy', 'dnd', 'offline')",
)
export class PresenceRecord {
  @PrimaryColumn({ type: 'varchar', length: 1024 })
  address!: string

  @Column({ type: 'varchar', length: 16 })
  availability!: Exclude<Availability, 'unknown'>

  @Column({ type: 'varchar', length: 1024, nullable: true })
  status!: string | null

  @Column({ type: 'varchar', length: 64, nullable: true })
  raw!: string | null

  /** The Parley identity whose subscription carried it. */
  @Column({ type: 'varchar', length: 1024 })
  source!: string

  @Column({ name: 'observed_at', ...TIMESTAMP_COLUMN })
  observedAt!: string
}
