import 'reflect-metadata'
import { Check, Column, Entity, Index, PrimaryColumn } from 'typeorm'
import type { SubscriptionState } from '../../contract/presence.js'
import { TIMESTAMP_COLUMN } from './timestamp.js'

export { SUBSCRIPTION_STATES, type SubscriptionState } from '../../contract/presence.js'

/** A remote address known to one of Parley's identities (its roster entry). */
@Entity({ name: 'contacts' })
@Index('uq_contacts_identity_address', ['identity', 'address'], { unique: true })
@Check(
  'ck_contacts_subscription',
  "subscription IN ('none', 'pending-out', 'pending-in', 'both', 'refused')",
)
export class Contact {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string

  /** The Parley identity's address (`Identity.address`). */
  @Column({ type: 'varchar', length: 1024 })
  identity!: string

  /** The remote party's address. */
  @Column({ type: 'varchar', length: 1024 })
  address!: string

  @Column({ type: 'varchar', length: 16 })
  subscription!: SubscriptionState

  @Column({ name: 'display_name', type: 'varchar', length: 255, nullable: true })
  displayName!: string | null

  @Column({ name: 'updated_at', ...TIMESTAMP_COLUMN })
  updatedAt!: string
}
