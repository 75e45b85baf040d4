/** JSON-schema pieces shared by the REST routes. */

/** A `network:id` address; the network's plugin validates the id itself. */
export const AddressField = {
  type: 'string',
  minLength: 3,
  maxLength: 1024,
  pattern: '^[a-z][a-z0-9-]{0,31}:.+$',
} as const
