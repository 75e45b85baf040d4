import { ApiKey } from './api-key.js'
import { Contact } from './contact.js'
import { Identity } from './identity.js'
import { MessageRecord } from './message-record.js'
import { PluginState } from './plugin-state.js'
import { PolicyVersion } from './policy-version.js'
import { PresenceRecord } from './presence-record.js'

export * from './api-key.js'
export * from './contact.js'
export * from './identity.js'
export * from './message-record.js'
export * from './plugin-state.js'
export * from './policy-version.js'
export * from './presence-record.js'
export * from './timestamp.js'

/** Every entity, listed explicitly (no globs: they break under tsx and tap's loader). */
export const entities = [
  Identity,
  Contact,
  MessageRecord,
  PluginState,
  PresenceRecord,
  ApiKey,
  PolicyVersion,
]
