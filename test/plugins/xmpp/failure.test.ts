import t from 'tap'
import { PluginError } from '../../../core/contract/index.js'
import { classify, describe, pluginError } from '../../../plugins/xmpp/failure.js'

const xmppError = (name: string, condition: string, text = '') =>
  Object.assign(new Error(condition + (text ? ` - ${text}` : '')), { name, condition, text })

t.test('bad credentials and other SASL failures an operator must fix are fatal', async (t) => {
  for (const condition of [
    'not-authorized',
    'account-disabled',
    'credentials-expired',
    'no-usable-mechanism',
  ]) {
    t.match(classify(xmppError('SASLError', condition)), {
      fatal: true,
      code: 'PARLEY_ERR_AUTH_FAILED',
      condition,
    })
  }
  t.match(classify(xmppError('SASLError', 'temporary-auth-failure')), {
    fatal: false,
    code: 'PARLEY_ERR_NOT_CONNECTED',
    condition: 'temporary-auth-failure',
  })
  t.match(
    classify(xmppError('SASLError', 'not-authorized', 'wrong password')).reason,
    /wrong password/,
  )
})

t.test('stream errors: conflict and host-unknown are fatal, shutdowns are not', async (t) => {
  t.match(classify(xmppError('StreamError', 'conflict')), { fatal: true, condition: 'conflict' })
  t.match(classify(xmppError('StreamError', 'host-unknown')), { fatal: true })
  t.match(classify(xmppError('StreamError', 'system-shutdown')), {
    fatal: false,
    condition: 'system-shutdown',
  })
  t.match(classify(xmppError('StreamError', 'reset')).reason, /^stream error: reset/)
})

t.test('socket errors and timeouts are transient and keep their code', async (t) => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
    code: 'ECONNREFUSED',
  })
  t.match(classify(refused), {
    fatal: false,
    code: 'PARLEY_ERR_NOT_CONNECTED',
    condition: 'ECONNREFUSED',
  })
  t.match(classify(Object.assign(new Error('x'), { name: 'TimeoutError' })), {
    fatal: false,
    condition: 'timeout',
  })
  t.match(classify(new Error('something else')), { fatal: false, reason: 'something else' })
  t.match(classify(undefined), { fatal: false })
})

t.test('pluginError carries the table message, retryable, condition and cause', async (t) => {
  const cause = new Error('root')
  const error = pluginError('PARLEY_ERR_SEND_FAILED', true, 'no ack', 'ack-timeout', cause)
  t.ok(PluginError.is(error))
  t.equal(error.message, "Network 'xmpp' did not accept the message: no ack")
  t.match(error, { code: 'PARLEY_ERR_SEND_FAILED', retryable: true, condition: 'ack-timeout' })
  t.equal(error.cause, cause)
})

t.test('describe names the error and its condition once', async (t) => {
  t.equal(describe(xmppError('SASLError', 'not-authorized')), 'SASLError: not-authorized')
  t.equal(describe(Object.assign(new Error('boom'), { condition: 'gone' })), 'Error: boom (gone)')
  t.equal(describe('plain'), 'plain')
})
