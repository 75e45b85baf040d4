import { type Static, Type } from 'typebox'
import { KEY_PATTERN } from '../auth/keys.js'
import { PolicySchema } from '../policy/model.js'

const Options = Type.Record(Type.String(), Type.Unknown(), { default: {} })

export const PluginEntry = Type.Object(
  {
    /** Network name: the config key, address scheme and queue suffix. */
    name: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }),
    /** Module to import: a package name or a path; default `plugins/<name>/index.ts`. */
    module: Type.Optional(Type.String({ minLength: 1 })),
    enabled: Type.Boolean({ default: true }),
    options: Options,
  },
  { additionalProperties: false },
)

export const BotEntry = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$' }),
    /** Module to import: a package name or a path; default `bots/<name>/index.ts`. */
    module: Type.Optional(Type.String({ minLength: 1 })),
    enabled: Type.Boolean({ default: true }),
    /** Identities the bot answers (`xmpp:echo@example.org`, or `xmpp:*`); default: the bot's own list. */
    identities: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}:.+$' }))),
    options: Options,
  },
  { additionalProperties: false },
)

export const ConfigSchema = Type.Object(
  {
    server: Type.Object(
      {
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
        host: Type.String({ minLength: 1, default: '127.0.0.1' }),
        logLevel: Type.Union(
          [
            Type.Literal('fatal'),
            Type.Literal('error'),
            Type.Literal('warn'),
            Type.Literal('info'),
            Type.Literal('debug'),
            Type.Literal('trace'),
            Type.Literal('silent'),
          ],
          { default: 'info' },
        ),
        /** Largest accepted request body, bytes. */
        bodyLimit: Type.Integer({ minimum: 1024, default: 65536 }),
      },
      { additionalProperties: false, default: {} },
    ),
    database: Type.Object(
      {
        /** `postgres://…` selects PostgreSQL; unset selects the embedded SQLite file. */
        url: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
        sqlitePath: Type.String({ minLength: 1, default: './data/parley.sqlite' }),
        /** PostgreSQL schema (tests isolate themselves with it). */
        schema: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$' })),
      },
      { additionalProperties: false, default: {} },
    ),
    redis: Type.Object(
      {
        url: Type.String({ pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' }),
        /**
         * BullMQ key prefix: hosts sharing a prefix share queues. In braces
         * (`{parley}`) it is a Redis Cluster hash tag: every key on one slot,
         * as BullMQ's multi-key scripts need (docs/scaling.md).
         */
        prefix: Type.String({
          pattern: '^(?:[A-Za-z0-9_.-]+|\\{[A-Za-z0-9_.-]+\\})$',
          default: 'parley',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    queues: Type.Object(
      {
        /** Attempts per job before it is kept as failed. */
        attempts: Type.Integer({ minimum: 1, maximum: 100, default: 8 }),
        /** First retry delay; doubles per attempt, with jitter, up to backoffMaxMs. */
        backoffMs: Type.Integer({ minimum: 1, default: 500 }),
        backoffMaxMs: Type.Integer({ minimum: 1, default: 60000 }),
        inboundConcurrency: Type.Integer({ minimum: 1, maximum: 1000, default: 32 }),
        outboundConcurrency: Type.Integer({ minimum: 1, maximum: 1000, default: 32 }),
        /** A bot turn that runs longer fails (retryable). */
        botTurnTimeoutMs: Type.Integer({ minimum: 1, default: 15000 }),
        /**
         * How long completed jobs stay in Redis, for inspection. 0 removes them at
         * once: redeliveries are still recognised by the message records' unique
         * keys, and Redis does a tenth less work per job.
         */
        keepCompletedSeconds: Type.Integer({ minimum: 0, default: 0 }),
        /** Time allowed for a plugin's start() before the host stops waiting (it keeps connecting). */
        pluginStartTimeoutMs: Type.Integer({ minimum: 1, default: 10000 }),
        /**
         * A worker holds a lock on each job it runs, renewed every half of this.
         * When its process dies, the job is taken back and run again elsewhere
         * after about this long (BullMQ's lockDuration).
         */
        lockMs: Type.Integer({ minimum: 1000, maximum: 600000, default: 30000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    presence: Type.Object(
      {
        /** Presence from plugins is coalesced per address for this long before it is queued. */
        batchMs: Type.Integer({ minimum: 0, maximum: 1000, default: 10 }),
        /** ...or until this many addresses are waiting. */
        batchMax: Type.Integer({ minimum: 1, maximum: 10000, default: 500 }),
        /** Last known presence is written to the database at most this often. */
        dbFlushMs: Type.Integer({ minimum: 10, default: 1000 }),
        /** Presence changes kept in Redis for SSE resume (Last-Event-ID), approximately. */
        streamMaxLen: Type.Integer({ minimum: 100, default: 10000 }),
        /** SSE keep-alive comment interval. */
        keepAliveMs: Type.Integer({ minimum: 1000, default: 15000 }),
        /** Identities that accept every contact request themselves; all others leave it to their bot or REST. */
        autoAccept: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}:.+$' }), {
          default: [],
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    /** REST security: API keys and rate limits (docs/security.md). */
    security: Type.Object(
      {
        /**
         * An admin key (`pk_<prefix>_<secret>`, e.g. from `npm run keys -- generate`)
         * that every host sharing the database accepts: stored hashed at start.
         * The environment's PARLEY_ADMIN_KEY wins. Unset, and no active admin
         * key in the database: the host generates one at first start and prints it once.
         */
        adminKey: Type.Optional(Type.String({ pattern: KEY_PATTERN })),
        /** Per API key (and per client IP for requests without a usable key), shared by every host on the same Redis prefix. */
        rateLimit: Type.Object(
          {
            /** Requests one API key may make per window, across all routes and hosts. */
            max: Type.Integer({ minimum: 1, default: 6000 }),
            /** Requests per window from one IP without a usable key (401s, /health, /docs). */
            unauthenticatedMax: Type.Integer({ minimum: 1, default: 600 }),
            timeWindowMs: Type.Integer({ minimum: 100, default: 60000 }),
          },
          { additionalProperties: false, default: {} },
        ),
        /**
         * How long a host trusts a verified key without asking the database: a
         * key revoked on another host stops working within this time (at once
         * on the host that revoked it). 0: every request asks the database.
         */
        keyCacheMs: Type.Integer({ minimum: 0, maximum: 300000, default: 5000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    /**
     * Federation policy (Lync's model, see docs/policy.md): what crosses the
     * edge. It seeds the database on first start only; afterwards the stored
     * policy (edited over REST, /v1/policy) is in force. Unset: Lync's
     * closed defaults, nothing crosses.
     */
    policy: Type.Optional(PolicySchema),
    federation: Type.Object(
      {
        /**
         * A flood from one federated sender (messages, typing, contact
         * requests, calls) is refused past this many events per window;
         * other senders are unaffected. Presence is coalesced, not counted.
         */
        senderLimit: Type.Object(
          {
            points: Type.Integer({ minimum: 1, default: 100 }),
            windowSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 10 }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    /**
     * Several host processes on one Redis prefix and database (docs/scaling.md).
     * Each network connection is owned by one process at a time through a
     * lease in Redis; the others stand by and take over when it lapses.
     */
    cluster: Type.Object(
      {
        /**
         * This process's name in leases, logs and metrics. Unset: host name,
         * process id and a random suffix. Two live processes must not share one.
         */
        instanceId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' })),
        /**
         * A lease lapses this long after its owner's last renewal: the longest
         * a network stays without a connection when its owner dies.
         */
        leaseMs: Type.Integer({ minimum: 1000, maximum: 300000, default: 10000 }),
        /** How often the owner renews (and a standby process tries to take) a lease. */
        renewMs: Type.Integer({ minimum: 100, maximum: 100000, default: 2500 }),
      },
      { additionalProperties: false, default: {} },
    ),
    plugins: Type.Array(PluginEntry, { default: [] }),
    bots: Type.Array(BotEntry, { default: [] }),
  },
  { additionalProperties: false },
)

export type ParleyConfig = Static<typeof ConfigSchema>
export type PluginEntry = Static<typeof PluginEntry>
export type BotEntry = Static<typeof BotEntry>

type DeepPartial<T> = T extends unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T

/** What an operator writes in fastify.config.ts: every section and default is optional. */
export type ParleyConfigInput = DeepPartial<Omit<ParleyConfig, 'plugins' | 'bots'>> & {
  plugins?: Array<Partial<PluginEntry> & { name: string }>
  bots?: Array<Partial<BotEntry> & { name: string }>
}
