/** What replaces a secret in the log and in /v1/networks. */
export const REDACTED = '[redacted]'

/**
 * Log fields that hold secrets, as pino redact paths (`*` is one level):
 * passwords and other secrets in plugin options, TLS private keys,
 * Authorization headers, the configured admin key. Fastify's request
 * serializer logs no headers; the header paths are here for anyone who logs
 * `request.headers` themselves. API keys are logged as `keyId`/`keyName`.
 */
export const LOG_REDACT_PATHS = [
  'password',
  '*.password',
  'options.*.password',
  '*.options.password',
  'secret',
  '*.secret',
  'privateKey',
  '*.privateKey',
  'tls.key',
  '*.tls.key',
  'options.tls.key',
  '*.options.tls.key',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'adminKey',
  '*.adminKey',
  'security.adminKey',
  '*.security.adminKey',
]

/** The logger's `redact` option. */
export const LOG_REDACT = { paths: LOG_REDACT_PATHS, censor: REDACTED }
