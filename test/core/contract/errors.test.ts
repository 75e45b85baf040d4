import { readFileSync } from 'node:fs'
import t from 'tap'
import { errorCodes, errors, PluginError, parleyError } from '../../../core/contract/index.js'

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8')
const documented = new Set([...doc.matchAll(/`(PARLEY_ERR_[A-Z_]+)`/g)].map((m) => m[1] ?? ''))

t.test('every error code in the table is documented in docs/errors.md', async (t) => {
  t.same(
    errorCodes.filter((c) => !documented.has(c)),
    [],
  )
})

t.test('docs/errors.md documents no code the table lacks', async (t) => {
  t.same(
    [...documented].filter((c) => !(c in errors)),
    [],
  )
})

t.test('the documented HTTP status matches the table', async (t) => {
  for (const row of doc.matchAll(/^\| `(PARLEY_ERR_[A-Z_]+)` \| (\d{3}) \|/gm)) {
    const code = row[1] as keyof typeof errors
    t.equal(new errors[code]().statusCode, Number(row[2]), code)
  }
})

t.test('parleyError formats the message and carries code and status', async (t) => {
  const err = parleyError('PARLEY_ERR_PLUGIN_CONFIG', 'xmpp', 'options.password: is required')
  t.equal(err.code, 'PARLEY_ERR_PLUGIN_CONFIG')
  t.equal(err.statusCode, 500)
  t.equal(err.message, "Invalid config for plugin 'xmpp': options.password: is required")
})

t.test('PluginError keeps retryable and the wire condition', async (t) => {
  const err = new PluginError('PARLEY_ERR_SEND_FAILED', 'no', {
    retryable: true,
    condition: 'service-unavailable',
  })
  t.ok(PluginError.is(err))
  t.equal(err.retryable, true)
  t.equal(err.condition, 'service-unavailable')
  t.notOk(PluginError.is(new Error('plain')))
})
