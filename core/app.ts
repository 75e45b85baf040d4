import 'reflect-metadata'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyServerOptions,
} from 'fastify'
import { ContactTurns } from './bots/contact-turns.js'
import { FederationAdapter } from './bots/federation-adapter.js'
import { type BotDirectory, loadBots } from './bots/load-bots.js'
import { defaultInstanceId, NetworkLeases } from './cluster/leases.js'
import { OwnerCalls } from './cluster/owner-calls.js'
import type { ParleyConfig } from './config/schema.js'
import { type Connection, parleyError, type RosterEntry } from './contract/index.js'
import { auth, BEARER_SECURITY_SCHEME } from './http/auth.js'
import { installErrorHandling } from './http/error-handler.js'
import { LOG_REDACT } from './http/log-redaction.js'
import { HostMetrics, metricsRoutes } from './http/metrics.js'
import { queueBoard } from './http/queue-board.js'
import { requestChildLogger, requestIdMixin } from './http/request-logger.js'
import { contactRoutes } from './http/routes-contacts.js'
import { HealthSchema, healthRoutes } from './http/routes-health.js'
import { keyRoutes } from './http/routes-keys.js'
import { messageRoutes } from './http/routes-messages.js'
import { networkRoutes } from './http/routes-networks.js'
import { policyRoutes } from './http/routes-policy.js'
import { presenceRoutes } from './http/routes-presence.js'
import { type LoadedPlugin, loadPlugins, startPlugins, stopPlugins } from './loader/load-plugins.js'
import { NetworkRegistry } from './loader/network-registry.js'
import { PolicyGate } from './policy/gate.js'
import { PolicyService } from './policy/service.js'
import { ContactService } from './presence/contacts.js'
import { PresenceService } from './presence/service.js'
import { createInboundSink } from './queue/inbound.js'
import { createOutboundSink, type OutboundSink } from './queue/outbound.js'
import { Outbox } from './queue/outbox.js'
import { Queues, type TurnReply } from './queue/queues.js'
import { Workers } from './queue/workers.js'
import { openStore, type Store } from './store/store.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: ParleyConfig
    store: Store
    queues: Queues
    networks: NetworkRegistry
    bots: BotDirectory
    /** Records and queues an outbound message (REST and bot replies both use it). */
    outbound: OutboundSink
    presence: PresenceService
    contacts: ContactService
    /** The federation policy in force (stored, edited over REST, same in every process). */
    policy: PolicyService
    /** Where every inbound event and outbound act meets the policy. */
    gate: PolicyGate
    /** Which network connections this process owns (one owner per network across processes). */
    leases: NetworkLeases
  }
}

export interface BuildOptions {
  /** Where `plugins/<name>` and `bots/<name>` are resolved; default: the working directory. */
  rootDir?: string
  logger?: FastifyServerOptions['logger']
  /** Where the default logger writes (stdout if unset), with its redaction of secrets: tests capture the log here. */
  logStream?: { write(line: string): void }
}

/** How often the outbox looks again while bot replies wait in it for Redis. */
const OUTBOX_SWEEP_MS = 1000

/** Redis must answer within this time at start, or the host refuses to start. */
const REDIS_READY_TIMEOUT_MS = 10_000

/**
 * Builds the host without listening: used by core/main.ts and by tests.
 * The order matters and is spelled out here, in one place:
 * storage (migrations) -> queues -> networks (loaded, not started) -> bots
 * -> workers -> routes -> networks started. Shutdown runs the reverse.
 */
export async function buildApp(
  config: ParleyConfig,
  options: BuildOptions = {},
): Promise<FastifyInstance> {
  const rootDir = options.rootDir ?? process.cwd()
  const app = Fastify({
    logger: options.logger ?? {
      level: config.server.logLevel,
      redact: LOG_REDACT,
      // The request id goes on each written line, not through redaction per request (request-logger.ts).
      mixin: requestIdMixin,
      ...(options.logStream && { stream: options.logStream }),
    },
    ...(options.logger === undefined && { childLoggerFactory: requestChildLogger }),
    bodyLimit: config.server.bodyLimit,
    // Addresses travel in paths (GET /v1/presence/:address): up to 1024 characters, percent-encoded.
    routerOptions: { maxParamLength: 3100 },
    // Errors the router answers before any route (bad URL, over-long parameter) get a Parley code too.
    frameworkErrors: (error, request, reply) => {
      const statusCode = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400
      request.log.info({ code: error.code }, 'request refused by the router')
      void (reply as unknown as FastifyReply).status(statusCode).send({
        statusCode,
        code: 'PARLEY_ERR_VALIDATION',
        error: statusCode === 414 ? 'URI Too Long' : 'Bad Request',
        message: `Invalid request: ${error.message}`,
      })
    },
    // Reject unknown fields instead of silently dropping them.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  })
  installErrorHandling(app)
  app.decorate('config', config)

  // 1. Storage: migrations run before anything reads or writes.
  const store = await openStore({
    url: config.database.url,
    sqlitePath: config.database.sqlitePath,
    schema: config.database.schema,
    log: app.log,
  })
  app.decorate('store', store)

  // 2. Queues: Redis must be reachable, or nothing accepted could be kept.
  const queues = new Queues({
    redisUrl: config.redis.url,
    prefix: config.redis.prefix,
    attempts: config.queues.attempts,
    keepCompletedSeconds: config.queues.keepCompletedSeconds,
  })
  queues.producer.on('error', (err) => app.log.warn({ err: err.message }, 'redis connection error'))
  app.decorate('queues', queues)
  try {
    await withTimeout(queues.ready(), REDIS_READY_TIMEOUT_MS, `no answer from ${config.redis.url}`)
  } catch (error) {
    await store.close()
    queues.producer.disconnect()
    throw parleyError('PARLEY_ERR_QUEUE_UNAVAILABLE', (error as Error).message)
  }

  // Anything failing from here on must not leave Redis or database handles open.
  let cleanup = async () => {
    await queues.close()
    await store.close()
  }
  try {
    // 3. Networks: imported and created now, started last (when workers listen).
    const registry = new NetworkRegistry()
    registry.on('status', (name, status, previous) => {
      const level =
        status.state === 'online' ? 'info' : status.state === 'failed' ? 'error' : 'warn'
      app.log[level](
        { network: name, from: previous.state, to: status.state, reason: status.reason },
        'network status',
      )
    })
    app.decorate('networks', registry)
    // Which process owns each network's connection (a lone process: all of them).
    const leases = new NetworkLeases({
      redis: queues.producer,
      prefix: config.redis.prefix,
      instanceId: config.cluster.instanceId ?? defaultInstanceId(),
      leaseMs: config.cluster.leaseMs,
      renewMs: config.cluster.renewMs,
      registry,
      log: app.log,
    })
    app.decorate('leases', leases)
    const ownerCalls = new OwnerCalls({ queues, timeoutMs: config.cluster.leaseMs })
    // Metrics are counted from here on and served at /metrics (core/http/metrics.ts).
    const metrics = new HostMetrics({
      networks: registry,
      instanceId: leases.instanceId,
      log: app.log,
    })

    // The federation policy: every path in and out goes through the gate.
    const policy = new PolicyService({
      store,
      redis: queues.producer,
      prefix: config.redis.prefix,
      seed: config.policy,
      log: app.log,
    })
    await policy.start()
    const previousCleanup = cleanup
    cleanup = async () => {
      await policy.close()
      await previousCleanup()
    }
    const gate = new PolicyGate({
      policy,
      network: (name) => registry.get(name),
      contact: (identity, address) => store.contacts.get(identity, address),
      redis: queues.producer,
      prefix: config.redis.prefix,
      senderLimit: config.federation.senderLimit,
      log: app.log,
    })
    app.decorate('policy', policy)
    app.decorate('gate', gate)

    // Presence (Redis live state, batched database copy) and federated contacts.
    let contactTurns: ContactTurns | undefined
    const presence = new PresenceService({
      redisUrl: config.redis.url,
      prefix: config.redis.prefix,
      redis: queues.producer,
      workerConnection: () => queues.workerConnection(),
      store,
      registry,
      log: app.log,
      settings: config.presence,
      onChange: (change) => contactTurns?.onPresence(change),
      onAccepted: (network) => metrics.presenceAccepted(network),
    })
    const contacts = new ContactService({
      store,
      registry,
      log: app.log,
      autoAccept: new Set(config.presence.autoAccept),
      forget: (_network, identity, address) => presence.forget(identity, address),
      admit: (q) => gate.outbound({ ...q, kind: 'subscription' }),
      viaOwner: (network, op, request) =>
        leases.holds(network) ? undefined : ownerCalls.call(network, op, request),
    })
    app.decorate('presence', presence)
    app.decorate('contacts', contacts)

    const shutdown = new AbortController()
    const pluginDeps = {
      rootDir,
      log: app.log,
      registry,
      accept: createInboundSink(queues, app.log, {
        presence: (network, event) => presence.accept(network, event),
        admit: (network, event) => gate.inbound(network, event),
      }),
      roster: (network: string, identity: string, entries: RosterEntry[], complete: boolean) =>
        contacts.onRoster(network, identity, entries, complete),
      stateFor: (plugin: string) => store.pluginState(plugin),
      signal: shutdown.signal,
    }
    const plugins = await loadPlugins(config.plugins, pluginDeps)
    for (const { name } of plugins) queues.outboundFor(name)

    // 4. Bots and the adapter that turns their replies into outbound jobs.
    const bots = await loadBots(config.bots, rootDir, app.log)
    app.decorate('bots', bots)
    // Bot replies Redis refused wait in their records until it is back (outbox.ts).
    const outbox = new Outbox({ store, queues, log: app.log, intervalMs: OUTBOX_SWEEP_MS })
    const outbound = createOutboundSink(
      store,
      queues,
      app.log,
      (m) => gate.outbound({ network: m.network, identity: m.from, remote: m.to, kind: 'message' }),
      outbox,
    )
    app.decorate('outbound', outbound)
    // A bot reply, recorded and queued; its id makes a replayed one the same record and job.
    const enqueueReply = async (reply: TurnReply) => {
      await outbound({ ...reply, dedupKey: `reply-${reply.id}` })
    }
    const adapter = new FederationAdapter({
      log: app.log,
      turnTimeoutMs: config.queues.botTurnTimeoutMs,
      enqueueReply,
      contactAction: (action) => {
        if (!contactTurns) throw parleyError('PARLEY_ERR_INTERNAL', 'contacts not ready')
        return contactTurns.contactAction(action)
      },
    })
    contactTurns = new ContactTurns({
      bots,
      adapter,
      contacts,
      store,
      log: app.log,
      view: (address, entry) => presence.view(address, entry),
    })
    const turns = contactTurns

    // 5. Workers: inbound for this host, outbound for each loaded network.
    const workers = new Workers({
      queues,
      store,
      registry,
      owns: (network) => leases.holds(network),
      turns: {
        botFor: (identity) => bots.botFor(identity),
        runTurn: (bot, network, event, recordId) =>
          adapter.processMessage(bot, network, event, recordId),
        requeue: async (replies) => {
          for (const reply of replies) await enqueueReply(reply)
        },
      },
      log: app.log,
      settings: config.queues,
      subscriptions: (network, event, jobId) => turns.onSubscription(network, event, jobId),
      calls: (network, event, jobId) => turns.onCall(network, event, jobId),
      onOutcome: (queue, network, outcome) => metrics.outcome(queue, network, outcome),
    })
    await presence.start()
    workers.start(plugins.map((p) => p.name))
    outbox.start()
    // From here on, closing means: stop taking work and drain what is in
    // flight, then close connections and stores (also what onClose runs).
    cleanup = async () => {
      await workers.close()
      await outbox.close()
      await presence.close()
      await turns.drain()
      // Only now: plugins stop when this aborts, and the drain above needed them.
      shutdown.abort()
      // Disconnects the networks this process owns and hands their leases over.
      await leases.close()
      await ownerCalls.close()
      await stopPlugins(plugins, app.log)
      await policy.close()
      await queues.close()
      await store.close()
    }

    // 6. Routes. API keys and rate limits first: every route after them needs
    // a key (with the scope in its `config.scope`, else admin) except these paths.
    await app.register(auth, {
      store,
      redis: queues.producer,
      prefix: config.redis.prefix,
      security: config.security,
      publicPaths: ['/health', '/docs'],
    })
    // OpenAPI next so it sees every route.
    app.addSchema(HealthSchema)
    await app.register(swagger, {
      openapi: {
        info: {
          title: 'Parley',
          version: '0.1.0',
          description: 'Federation host for instant messaging with bots',
        },
        components: { securitySchemes: { apiKey: BEARER_SECURITY_SCHEME } },
        security: [{ apiKey: [] }],
      },
    })
    await app.register(swaggerUi, { routePrefix: '/docs' })
    await app.register(healthRoutes)
    // Every queue the host works, for Prometheus and for admins (docs/metrics.md).
    const hostQueues = [
      queues.inbound,
      ...plugins.map((p) => queues.outboundFor(p.name)),
      presence.queue,
    ]
    await app.register(metricsRoutes, { metrics, queues: hostQueues })
    await app.register(queueBoard, { queues: hostQueues, basePath: '/admin/queues' })
    await app.register(
      async (v1) => {
        await v1.register(keyRoutes)
        await v1.register(networkRoutes)
        await v1.register(messageRoutes)
        await v1.register(presenceRoutes, { keepAliveMs: config.presence.keepAliveMs })
        await v1.register(contactRoutes)
        await v1.register(policyRoutes)
        // Each network gets its own encapsulated context under /v1/networks/<name>/:
        // its routes, hooks and decorators cannot leak into the host or another network.
        for (const plugin of plugins) {
          await v1.register(
            async (scope) => {
              scope.decorate('network', plugin.name)
              await plugin.definition.routes?.(scope, currentConnection(plugin))
            },
            { prefix: `/networks/${plugin.name}` },
          )
        }
      },
      { prefix: '/v1' },
    )

    // Shutdown: stop taking work and drain what is in flight, then close connections and stores.
    app.addHook('onClose', () => cleanup())

    // 7. Networks start last; a slow or failing network never blocks or breaks the host.
    // Each is started only by the process that holds its lease (the first
    // to ask; a lone process at once), and again by whichever takes it over.
    for (const plugin of plugins) {
      let started = false
      leases.add(plugin.name, {
        acquired: async () => {
          // A connection starts at most once: after a loss, a fresh one.
          if (started) plugin.renew()
          started = true
          await startPlugins([plugin], pluginDeps, config.queues.pluginStartTimeoutMs)
          workers.sync(plugin.name)
        },
        lost: async (reason) => {
          workers.sync(plugin.name)
          app.log.warn({ network: plugin.name, reason }, 'connection handed over: disconnecting')
          await stopPlugins([plugin], app.log)
        },
      })
    }
    await leases.start()
    // Every identity a network speaks for is recorded (contacts and messages refer to it).
    for (const { name, connection } of plugins) {
      if (registry.get(name)?.status.state === 'failed') continue
      try {
        for (const address of connection.identities()) await store.identities.ensure(address, name)
      } catch (err) {
        app.log.warn({ network: name, err }, 'could not record the identities of a network')
      }
    }
  } catch (error) {
    await cleanup()
    throw error
  }
  return app
}

/**
 * The plugin's connection as its routes see it: always the current one (a
 * process that regains a network's lease gets a fresh connection).
 */
function currentConnection(plugin: LoadedPlugin): Connection {
  return new Proxy({} as Connection, {
    get(_target, property) {
      const connection = plugin.connection as unknown as Record<string | symbol, unknown>
      const value = connection[property]
      return typeof value === 'function' ? value.bind(connection) : value
    },
  })
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}
