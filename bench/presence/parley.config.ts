import { defineConfig } from '../../core/config/define-config.js'
import { xmppDomainPolicy } from '../../core/policy/presets.js'

/**
 * The host as the presence benchmark runs it: the xmpp plugin and no bot (so
 * presence changes cost no bot turns), embedded SQLite, its own Redis prefix,
 * the `presence` section at its defaults, API keys checked and rate
 * limits counted as in production (with a limit the benchmark cannot reach).
 */
const env = process.env
export default defineConfig({
  server: { logLevel: 'warn' },
  database: { sqlitePath: env.BENCH_SQLITE ?? './data/bench-presence.sqlite' },
  redis: { prefix: env.BENCH_PREFIX ?? 'parley-bench-presence' },
  // One client as fast as it can go: the limiter still counts every request
  // (its cost is in the figures), but its limit is out of reach.
  security: { rateLimit: { max: 1_000_000_000 } },
  // The users of the benchmark's XMPP domain may talk to Parley (the gate still decides each event).
  policy: xmppDomainPolicy(env.XMPP_DOMAIN ?? 'localhost'),
  plugins: [
    {
      name: 'xmpp',
      options: {
        service: env.XMPP_SERVICE,
        domain: env.XMPP_DOMAIN,
        username: env.XMPP_USERNAME,
        password: env.XMPP_PASSWORD,
      },
    },
  ],
  bots: [],
})
