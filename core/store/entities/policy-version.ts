import 'reflect-metadata'
import { Column, Entity, PrimaryColumn } from 'typeorm'
import { TIMESTAMP_COLUMN } from './timestamp.js'

/**
 * One version of the federation policy (core/policy). Versions are never
 * updated: an edit inserts the next version, so the primary key is also the
 * optimistic lock (two concurrent edits of version N cannot both become N+1),
 * and the table is the policy's history.
 */
@Entity({ name: 'policy_versions' })
export class PolicyVersion {
  @PrimaryColumn({ type: 'integer' })
  version!: number

  /** The whole policy as JSON (core/policy/model.ts `Policy`). */
  @Column({ type: 'text' })
  document!: string

  /** Who made it: `config` (seeded at start) or `key:<name>` for a REST edit. */
  @Column({ type: 'varchar', length: 160 })
  author!: string

  /** What changed, in a few words (`blockedDomains + evil.example`). */
  @Column({ type: 'varchar', length: 500 })
  summary!: string

  @Column({ name: 'created_at', ...TIMESTAMP_COLUMN })
  createdAt!: string
}
