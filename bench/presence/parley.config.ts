import { defineConfig } from '../../core/config/define-config.js'

/**
 * The host as the presence benchmark runs it: the xmpp plugin and no bot (so
 * presence changes cost no bot turns), embedded SQLite, its own Redis prefix,
 * the `presence` section at its defaults.
 */
const env = process.env
export default defineConfig({
  server: { logLevel: 'warn' },
  database: { sqlitePath: env.BENCH_SQLITE ?? './data/bench-presence.sqlite' },
  redis: { prefix: env.BENCH_PREFIX ?? 'parley-bench-presence' },
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
