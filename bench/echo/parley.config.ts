import { defineConfig } from '../../core/config/define-config.js'
import { xmppDomainPolicy } from '../../core/policy/presets.js'

/** The host as the echo benchmark runs it: xmpp plugin + echo bot, embedded SQLite, its own Redis prefix. */
const env = process.env
export default defineConfig({
  server: { logLevel: 'warn' },
  database: { sqlitePath: env.BENCH_SQLITE ?? './data/bench.sqlite' },
  redis: { prefix: env.BENCH_PREFIX ?? 'parley-bench' },
  queues: {
    keepCompletedSeconds: 0,
    inboundConcurrency: Number(env.BENCH_INBOUND_CONCURRENCY ?? 32),
    outboundConcurrency: Number(env.BENCH_OUTBOUND_CONCURRENCY ?? 32),
  },
  // The users of the benchmark's XMPP domain may talk to Parley (the gate still decides each event).
  policy: xmppDomainPolicy(env.XMPP_DOMAIN ?? 'localhost'),
  // A few senders at full speed: the sender limit still counts every message, out of reach.
  federation: { senderLimit: { points: 1_000_000_000, windowSeconds: 1 } },
  security: { rateLimit: { max: 1_000_000_000 } },
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
  bots: [{ name: 'echo', identities: [`xmpp:${env.XMPP_USERNAME}@${env.XMPP_DOMAIN}`] }],
})
