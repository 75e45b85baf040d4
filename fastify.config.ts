import { defineConfig } from './core/config/define-config.js'
import { xmppDomainPolicy } from './core/policy/presets.js'

/**
 * Parley's configuration. Environment variables override it for operators:
 * PORT, HOST, DATABASE_URL (unset: SQLite under ./data/), REDIS_URL, LOG_LEVEL.
 * With XMPP_SERVICE set, the `xmpp` plugin is enabled with the `echo` bot
 * answering the account XMPP_USERNAME@XMPP_DOMAIN, and the federation
 * policy lets users of XMPP_DOMAIN (a Federated XMPP partner) talk to it.
 * Without it, Lync's closed defaults apply: nothing crosses the edge until
 * an admin opens it over REST (docs/policy.md).
 *
 * `policy` only seeds an empty database: once stored, the policy is edited
 * over REST (/v1/policy) and this file's version no longer applies.
 */
const env = process.env
const xmpp = env.XMPP_SERVICE
  ? {
      service: env.XMPP_SERVICE,
      domain: env.XMPP_DOMAIN ?? 'localhost',
      username: env.XMPP_USERNAME ?? 'echo',
      password: env.XMPP_PASSWORD ?? '',
    }
  : undefined

export default defineConfig({
  server: { port: 8080, host: '127.0.0.1' },
  database: { sqlitePath: './data/parley.sqlite' },
  redis: { url: 'redis://127.0.0.1:6379', prefix: 'parley' },
  plugins: xmpp ? [{ name: 'xmpp', options: xmpp }] : [],
  bots: xmpp ? [{ name: 'echo', identities: [`xmpp:${xmpp.username}@${xmpp.domain}`] }] : [],
  ...(xmpp && { policy: xmppDomainPolicy(xmpp.domain) }),
})
