/**
 * XMPP failures -> Parley's terms: which ones an operator must fix (no
 * reconnect loop) and which ones pass, and the PluginErrors that carry them.
 */
import type { XMPPErrorLike } from '@xmpp/client'
import { type ErrorCode, PluginError, parleyError } from '../../core/contract/index.js'
import { NETWORK } from './wire.js'

export interface Failure {
  /** true: retrying cannot help (bad credentials, unknown host): report `failed`, stop. */
  fatal: boolean
  code: ErrorCode
  reason: string
  /** The wire condition (`not-authorized`, `ECONNREFUSED`, …). */
  condition?: string
}

// SASL failures an operator has to fix (RFC 6120 §6.5); the others may pass.
const FATAL_SASL = new Set([
  'not-authorized',
  'account-disabled',
  'credentials-expired',
  'invalid-authzid',
  'invalid-mechanism',
  'mechanism-too-weak',
  'encryption-required',
  'no-usable-mechanism',
])

// Stream errors that repeat on every attempt (RFC 6120 §4.9.3). `conflict`:
// another session bound our resource and the server dropped us; reconnecting
// would drop it in turn, and the two would take turns forever.
const FATAL_STREAM = new Set([
  'conflict',
  'host-unknown',
  'improper-addressing',
  'not-authorized',
  'invalid-namespace',
])

export function classify(err: unknown): Failure {
  const e = (err ?? {}) as XMPPErrorLike & { code?: unknown }
  if (e.name === 'SASLError') {
    const condition = e.condition ?? 'sasl-failure'
    const fatal = FATAL_SASL.has(condition)
    return {
      fatal,
      code: fatal ? 'PARLEY_ERR_AUTH_FAILED' : 'PARLEY_ERR_NOT_CONNECTED',
      reason: `authentication failed: ${condition}${e.text ? ` (${e.text})` : ''}`,
      condition,
    }
  }
  if (e.name === 'StreamError') {
    const condition = e.condition ?? 'stream-error'
    return {
      fatal: FATAL_STREAM.has(condition),
      code: 'PARLEY_ERR_NOT_CONNECTED',
      reason: `stream error: ${condition}${e.text ? ` (${e.text})` : ''}`,
      condition,
    }
  }
  if (e.name === 'TimeoutError') {
    return {
      fatal: false,
      code: 'PARLEY_ERR_NOT_CONNECTED',
      reason: 'timed out',
      condition: 'timeout',
    }
  }
  const condition = typeof e.code === 'string' ? e.code : undefined
  return {
    fatal: false,
    code: 'PARLEY_ERR_NOT_CONNECTED',
    reason: e.message || String(err),
    ...(condition && { condition }),
  }
}

/** A PluginError whose message comes from the error table (`Network 'xmpp' …: detail`). */
export function pluginError(
  code: ErrorCode,
  retryable: boolean,
  detail: string,
  condition?: string,
  cause?: unknown,
): PluginError {
  const message = parleyError(code, NETWORK, detail).message
  return new PluginError(code, message, {
    retryable,
    ...(condition !== undefined && { condition }),
    ...(cause !== undefined && { cause }),
  })
}

/** One line for logs: name, message and the XMPP condition when the message lacks it. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const condition = (err as XMPPErrorLike).condition
    const suffix = condition && !err.message.includes(condition) ? ` (${condition})` : ''
    return `${err.name}: ${err.message}${suffix}`
  }
  return String(err)
}
