import type { MigrationInterface } from 'typeorm'
import { CreateIdentitiesAndContacts1795786314220 } from './1795786314220-create-identities-and-contacts.js'
import { CreateMessages1795786314221 } from './1795786314221-create-messages.js'
import { CreatePluginState1795786314222 } from './1795786314222-create-plugin-state.js'
import { CreatePresenceLastKnown1795786314223 } from './1795786314223-create-presence-last-known.js'
import { CreateApiKeys1795786314224 } from './1795786314224-create-api-keys.js'
import { CreatePolicyVersions1795786314230 } from './1795786314230-create-policy-versions.js'

/**
 * Every migration, oldest first. Listed explicitly rather than found by a
 * glob: globs break under tsx and tap's loaders. Add each new migration here.
 */
export const migrations: Array<new () => MigrationInterface> = [
  CreateIdentitiesAndContacts1795786314220,
  CreateMessages1795786314221,
  CreatePluginState1795786314222,
  CreatePresenceLastKnown1795786314223,
  CreateApiKeys1795786314224,
  CreatePolicyVersions1795786314230,
]
