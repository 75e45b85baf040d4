import { randomUUID } from 'node:crypto'
import t from 'tap'
import { buildApp } from '../../../core/app.js'
import { redactOptions } from '../../../core/loader/validate-plugin.js'
import { fakePlugin, ROOT, testConfig, withAdminKey } from '../../helpers/app.js'

const PASSWORD = `hunter2-${randomUUID()}`
const TLS_KEY = `-----BEGIN PRIVATE KEY-----\nMIIE${randomUUID()}\n-----END PRIVATE KEY-----`

t.test('secrets never reach the log or /v1/networks', async (t) => {
  const lines: string[] = []
  const config = testConfig(t, {
    server: { logLevel: 'trace' },
    plugins: [
      fakePlugin(randomUUID(), { password: PASSWORD, tls: { cert: 'edge.pem', key: TLS_KEY } }),
    ],
  })
  const app = withAdminKey(
    await buildApp(config, { rootDir: ROOT, logStream: { write: (line) => lines.push(line) } }),
  )
  t.teardown(() => app.close())
  const adminKey = config.security.adminKey as string

  const networks = await app.inject({ url: '/v1/networks' })
  t.equal(networks.statusCode, 200)
  const { options } = networks.json().networks[0]
  t.equal(options.password, '[redacted]')
  t.same(options.tls, { cert: 'edge.pem', key: '[redacted]' })
  t.equal(options.key.length, 36, 'options that are not secrets stay visible')

  const created = (
    await app.inject({ method: 'POST', url: '/v1/keys', payload: { scopes: ['admin'] } })
  ).json()
  await app.inject({ url: '/v1/networks', headers: { authorization: `Bearer ${created.key}` } })
  await app.inject({ url: '/v1/networks', headers: { authorization: 'Bearer pk_bad' } })
  // Someone logging headers or config objects by hand is caught too.
  app.log.info(
    { headers: { authorization: `Bearer ${adminKey}` }, security: { adminKey } },
    'by hand',
  )
  app.log.info({ config: { tls: { key: TLS_KEY } }, password: PASSWORD }, 'by hand')

  const log = lines.join('')
  t.ok(lines.length > 10, `${lines.length} log lines captured`)
  t.match(log, /fake network created/, "the plugin's own log line is there")
  for (const [what, secret] of [
    ['the password', PASSWORD],
    ['the TLS private key', TLS_KEY.split('\n')[1] as string],
    ['the admin key', adminKey.slice(12)],
    ['a created key', created.key.slice(12)],
  ] as const) {
    t.notOk(log.includes(secret), `${what} is not in the log`)
    t.notOk(networks.body.includes(secret), `${what} is not in /v1/networks`)
  }
  const authenticated = lines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((entry) => entry.keyId === created.id)
  t.match(authenticated, { keyId: created.id, keyName: created.name }, 'keys are logged by id')
})

t.test(
  'redactOptions: names, nested TLS keys, dotted paths and secret-looking values',
  async (t) => {
    t.same(
      redactOptions(
        {
          user: 'bot',
          password: 'p',
          apiToken: 't',
          tls: { cert: 'c.pem', key: 'k.pem' },
          upstream: { clientSecret: 's', host: 'h' },
          peers: [{ host: 'a', privateKey: 'x' }],
          inline: TLS_KEY,
          custom: { pin: '1234' },
          key: 'not a secret',
        },
        ['custom.pin'],
      ),
      {
        user: 'bot',
        password: '[redacted]',
        apiToken: '[redacted]',
        tls: { cert: 'c.pem', key: '[redacted]' },
        upstream: { clientSecret: '[redacted]', host: 'h' },
        peers: [{ host: 'a', privateKey: '[redacted]' }],
        inline: '[redacted]',
        custom: { pin: '[redacted]' },
        key: 'not a secret',
      },
    )
  },
)
