import 'reflect-metadata'
import { Column, Entity, PrimaryColumn } from 'typeorm'
import { TIMESTAMP_COLUMN } from './timestamp.js'

/** One key of a plugin's small key/value store (`PluginContext.state`). */
@Entity({ name: 'plugin_state' })
export class PluginState {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  plugin!: string

  @PrimaryColumn({ type: 'varchar', length: 255 })
  key!: string

  @Column({ type: 'text' })
  value!: string

  @Column({ name: 'updated_at', ...TIMESTAMP_COLUMN })
  updatedAt!: string
}
