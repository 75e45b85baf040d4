import type { DataSource } from 'typeorm'
import type { PluginStateStore } from '../contract/plugin.js'
import { isoNow, PluginState } from './entities/index.js'
import { requireString, requireText } from './validate-input.js'

const PLUGIN_MAX = 64
const KEY_MAX = 255

/** The `ctx.state` handed to plugin `plugin`: keys are private to that plugin. */
export function createPluginStateStore(ds: DataSource, plugin: string): PluginStateStore {
  requireString('plugin', plugin, PLUGIN_MAX)
  return {
    async get(key) {
      requireString('key', key, KEY_MAX)
      const row = await ds
        .createQueryBuilder(PluginState, 's')
        .select('s.value', 'value')
        .where('s.plugin = :plugin', { plugin })
        .andWhere('s.key = :key', { key })
        .getRawOne<{ value: string }>()
      return row?.value
    },

    async set(key, value) {
      requireString('key', key, KEY_MAX)
      requireText('value', value)
      await ds
        .createQueryBuilder()
        .insert()
        .into(PluginState)
        .values({ plugin, key, value, updatedAt: isoNow() })
        .orUpdate(['value', 'updated_at'], ['plugin', 'key'])
        .updateEntity(false)
        .callListeners(false)
        .execute()
    },

    async delete(key) {
      requireString('key', key, KEY_MAX)
      await ds
        .createQueryBuilder()
        .delete()
        .from(PluginState)
        .where('plugin = :plugin', { plugin })
        .andWhere('key = :key', { key })
        .callListeners(false)
        .execute()
    },
  }
}
