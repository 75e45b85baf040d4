import t from 'tap'
import { testApp } from '../helpers/app.js'
import { freePort } from '../peers/prosody.js'

/**
 * Provider profiles (plugins/aol, yahoo, windows-live) are loaded through
 * their base plugin (plugins/sip): their own name, options and
 * capabilities, the edge's connection.
 */
async function profile(name: string, options: Record<string, unknown> = {}) {
  const port = await freePort()
  return {
    name,
    options: {
      domain: 'parley.test',
      identities: ['bot'],
      listen: { address: '127.0.0.1', port },
      proxy: { host: '127.0.0.1', port: 5999, transport: 'tcp' },
      ...options,
    },
  }
}

t.test(
  'a retired provider does not start: /v1/networks shows it retired, with the date',
  async (t) => {
    const app = await testApp(t, { plugins: [await profile('aol'), await profile('yahoo')] })
    for (const name of ['aol', 'yahoo']) {
      const view = (await app.inject({ method: 'GET', url: `/v1/networks/${name}` })).json()
      t.equal(view.status, 'retired', name)
      t.equal(view.retired, '2014-06-30', name)
      t.equal(view.lastError.code, 'PARLEY_ERR_PROVIDER_RETIRED', name)
      t.match(view.lastError.message, /allowRetired/, name)
    }
    const health = await app.inject({ method: 'GET', url: '/health' })
    t.equal(health.statusCode, 200, 'the host is up')
  },
)

t.test('with allowRetired the profile runs on the sip edge, under its own name', async (t) => {
  const app = await testApp(t, { plugins: [await profile('aol', { allowRetired: true })] })
  const view = (await app.inject({ method: 'GET', url: '/v1/networks/aol' })).json()
  // The edge listens; the provider's proxy (127.0.0.1:5999) is not there, and it says so.
  t.equal(view.status, 'offline')
  t.match(view.reason, /ECONNREFUSED/)
  t.same(view.identities, ['aol:sip:bot@parley.test'])
  t.equal(view.retired, null)
  t.match(view.capabilities, { im: true, presence: 'push', audioVideo: false })
  // Addresses of the profile's network are SIP URIs, normalised by the edge.
  const res = await app.inject({ method: 'GET', url: '/v1/presence/aol:Alice@AOL.com' })
  t.equal(res.statusCode, 200)
  t.equal(res.json().address, 'aol:sip:Alice@aol.com')
})

t.test('Windows Live is not retired and needs no override', async (t) => {
  const app = await testApp(t, { plugins: [await profile('windows-live')] })
  const view = (await app.inject({ method: 'GET', url: '/v1/networks/windows-live' })).json()
  t.not(view.status, 'retired')
  t.equal(view.retired, null)
})

t.test(
  "a profile's bad option fails the start with the profile's name and the field",
  async (t) => {
    await t.rejects(
      testApp(t, { plugins: [{ name: 'windows-live', options: { identities: ['bot'] } }] }),
      { code: 'PARLEY_ERR_PLUGIN_CONFIG', message: /windows-live.*domain/ },
    )
  },
)
