import createError from '@fastify/error'

/**
 * The one table of Parley error codes. Every code is documented in
 * docs/errors.md; test/core/contract/errors.test.ts keeps the two in step.
 * The HTTP status is what a REST client sees when the error reaches a route.
 */
export const errors = {
  PARLEY_ERR_CONFIG: createError('PARLEY_ERR_CONFIG', 'Invalid configuration: %s', 500),
  PARLEY_ERR_PLUGIN_CONFIG: createError(
    'PARLEY_ERR_PLUGIN_CONFIG',
    "Invalid config for plugin '%s': %s",
    500,
  ),
  PARLEY_ERR_BOT_CONFIG: createError(
    'PARLEY_ERR_BOT_CONFIG',
    "Invalid config for bot '%s': %s",
    500,
  ),
  PARLEY_ERR_PLUGIN_LOAD: createError(
    'PARLEY_ERR_PLUGIN_LOAD',
    "Plugin '%s' could not be loaded: %s",
    500,
  ),
  PARLEY_ERR_PLUGIN_MANIFEST: createError(
    'PARLEY_ERR_PLUGIN_MANIFEST',
    "Plugin '%s' has an invalid manifest: %s",
    500,
  ),
  PARLEY_ERR_PLUGIN_START: createError(
    'PARLEY_ERR_PLUGIN_START',
    "Plugin '%s' failed to start: %s",
    500,
  ),
  PARLEY_ERR_BOT_LOAD: createError('PARLEY_ERR_BOT_LOAD', "Bot '%s' could not be loaded: %s", 500),
  PARLEY_ERR_MIGRATION: createError('PARLEY_ERR_MIGRATION', 'Database migration failed: %s', 500),
  PARLEY_ERR_VALIDATION: createError('PARLEY_ERR_VALIDATION', 'Invalid request: %s', 400),
  PARLEY_ERR_ADDRESS_INVALID: createError(
    'PARLEY_ERR_ADDRESS_INVALID',
    "Invalid address '%s': %s",
    400,
  ),
  PARLEY_ERR_NETWORK_UNKNOWN: createError(
    'PARLEY_ERR_NETWORK_UNKNOWN',
    "Unknown network '%s'",
    400,
  ),
  PARLEY_ERR_CAPABILITY: createError(
    'PARLEY_ERR_CAPABILITY',
    "Network '%s' does not support %s",
    422,
  ),
  PARLEY_ERR_NO_IDENTITY: createError(
    'PARLEY_ERR_NO_IDENTITY',
    "No identity on network '%s' to send from: %s",
    422,
  ),
  PARLEY_ERR_NOT_FOUND: createError('PARLEY_ERR_NOT_FOUND', 'Not found: %s', 404),
  PARLEY_ERR_CONTACT_NOT_FOUND: createError(
    'PARLEY_ERR_CONTACT_NOT_FOUND',
    "No contact with id '%s'",
    404,
  ),
  PARLEY_ERR_CONTACT_STATE: createError('PARLEY_ERR_CONTACT_STATE', "Contact '%s': %s", 409),
  PARLEY_ERR_MESSAGE_NOT_FOUND: createError(
    'PARLEY_ERR_MESSAGE_NOT_FOUND',
    "No message with id '%s'",
    404,
  ),
  PARLEY_ERR_QUEUE_UNAVAILABLE: createError(
    'PARLEY_ERR_QUEUE_UNAVAILABLE',
    'The message queue is unavailable: %s',
    503,
  ),
  PARLEY_ERR_STORE_UNAVAILABLE: createError(
    'PARLEY_ERR_STORE_UNAVAILABLE',
    'The database is unavailable: %s',
    503,
  ),
  PARLEY_ERR_NOT_CONNECTED: createError(
    'PARLEY_ERR_NOT_CONNECTED',
    "Network '%s' is not connected",
    503,
  ),
  PARLEY_ERR_AUTH_FAILED: createError(
    'PARLEY_ERR_AUTH_FAILED',
    "Network '%s' refused the credentials: %s",
    502,
  ),
  PARLEY_ERR_SEND_FAILED: createError(
    'PARLEY_ERR_SEND_FAILED',
    "Network '%s' did not accept the message: %s",
    502,
  ),
  PARLEY_ERR_REMOTE_REFUSED: createError(
    'PARLEY_ERR_REMOTE_REFUSED',
    "Network '%s' refused the message: %s",
    502,
  ),
  PARLEY_ERR_WIRE_INVALID: createError(
    'PARLEY_ERR_WIRE_INVALID',
    "Unusable data from network '%s': %s",
    400,
  ),
  PARLEY_ERR_PLUGIN_THREW: createError('PARLEY_ERR_PLUGIN_THREW', "Plugin '%s' threw: %s", 500),
  PARLEY_ERR_BOT_TURN: createError('PARLEY_ERR_BOT_TURN', "Bot '%s' failed on a turn: %s", 500),
  PARLEY_ERR_BOT_TIMEOUT: createError(
    'PARLEY_ERR_BOT_TIMEOUT',
    "Bot '%s' did not finish its turn in %s ms",
    500,
  ),
  PARLEY_ERR_NO_BOT: createError('PARLEY_ERR_NO_BOT', "No bot answers identity '%s'", 500),
  PARLEY_ERR_PROVIDER_RETIRED: createError(
    'PARLEY_ERR_PROVIDER_RETIRED',
    "Provider '%s' was retired on %s; set options.allowRetired to run it anyway",
    503,
  ),
  PARLEY_ERR_PIC_LICENCE: createError(
    'PARLEY_ERR_PIC_LICENCE',
    "Identity '%s' has no public IM connectivity (PIC) licence for %s",
    403,
  ),
  PARLEY_ERR_UNAUTHORIZED: createError('PARLEY_ERR_UNAUTHORIZED', 'Unauthorized: %s', 401),
  PARLEY_ERR_FORBIDDEN: createError('PARLEY_ERR_FORBIDDEN', 'Forbidden: %s', 403),
  PARLEY_ERR_RATE_LIMITED: createError('PARLEY_ERR_RATE_LIMITED', 'Too many requests: %s', 429),
  PARLEY_ERR_POLICY_DENIED: createError(
    'PARLEY_ERR_POLICY_DENIED',
    'The federation policy refuses this: %s',
    403,
  ),
  PARLEY_ERR_POLICY_CONFLICT: createError(
    'PARLEY_ERR_POLICY_CONFLICT',
    'The policy change conflicts: %s',
    409,
  ),
  PARLEY_ERR_NOT_ACCEPTABLE: createError(
    'PARLEY_ERR_NOT_ACCEPTABLE',
    'Not acceptable: this endpoint only produces %s',
    406,
  ),
  PARLEY_ERR_INTERNAL: createError('PARLEY_ERR_INTERNAL', 'Internal error: %s', 500),
} as const

export type ErrorCode = keyof typeof errors

export const errorCodes = Object.keys(errors) as ErrorCode[]

/** Builds the error for `code` with its message arguments (the `%s` slots, in order). */
export function parleyError(
  code: ErrorCode,
  ...args: unknown[]
): Error & { code: ErrorCode; statusCode: number } {
  const Ctor = errors[code]
  return new Ctor(...args) as Error & { code: ErrorCode; statusCode: number }
}

export interface PluginErrorOptions {
  /** true: a later attempt may succeed (BullMQ retries with backoff); false: fail the job at once. */
  retryable: boolean
  /** The network's own error condition, kept as it came off the wire (e.g. `service-unavailable`). */
  condition?: string
  cause?: unknown
}

/**
 * What a plugin throws from `send()` and the other outbound methods. The
 * outbound worker turns a non-retryable one into BullMQ's UnrecoverableError.
 */
export class PluginError extends Error {
  readonly code: ErrorCode
  readonly retryable: boolean
  readonly condition: string | undefined

  constructor(code: ErrorCode, message: string, options: PluginErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'PluginError'
    this.code = code
    this.retryable = options.retryable
    this.condition = options.condition
  }

  static is(value: unknown): value is PluginError {
    return (
      value instanceof PluginError ||
      (value instanceof Error && value.name === 'PluginError' && 'retryable' in value)
    )
  }
}
