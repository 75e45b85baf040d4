import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import { loadConfig } from './config/load-config.js'

/**
 * Process entry: load fastify.config.ts, build the host, listen, and close
 * gracefully on SIGINT/SIGTERM (in-flight jobs drain before connections close).
 */
async function main(): Promise<void> {
  let app: Awaited<ReturnType<typeof buildApp>>
  try {
    const config = await loadConfig()
    app = await buildApp(config)
    await app.listen({ port: config.server.port, host: config.server.host })
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'PARLEY_ERR_INTERNAL'
    // One clear line for the operator; the stack is noise for config errors.
    console.error(`parley: ${code}: ${(error as Error).message}`)
    process.exit(1)
  }
  const summary = app.networks
    .all()
    .map((n) => `${n.name}=${n.status.state}`)
    .join(' ')
  app.log.info(
    { networks: summary || 'none', bots: app.bots.bots.map((b) => b.name) },
    'parley is up',
  )
  await announceBootstrapKey(app)

  let closing = false
  const close = (signal: string) => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down: draining in-flight work')
    const force = setTimeout(() => {
      app.log.error('shutdown took over 30 s; exiting')
      process.exit(1)
    }, 30_000)
    force.unref()
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.log.error({ err }, 'error during shutdown')
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => close('SIGINT'))
  process.on('SIGTERM', () => close('SIGTERM'))
  // A plugin's stray exception must not take every network down with it.
  process.on('uncaughtException', (err) =>
    app.log.error({ err, code: 'PARLEY_ERR_PLUGIN_THREW' }, 'uncaught exception'),
  )
  process.on('unhandledRejection', (err) =>
    app.log.error({ err, code: 'PARLEY_ERR_PLUGIN_THREW' }, 'unhandled rejection'),
  )
}

/**
 * First start: no admin key configured and none active in the database. The
 * host makes one, stores its hash, and shows it here, once, on stderr (not
 * in the structured log, which is shipped and kept). Later starts find an
 * active admin key and show nothing.
 */
async function announceBootstrapKey(app: FastifyInstance): Promise<void> {
  let created: Awaited<ReturnType<FastifyInstance['auth']['bootstrap']>>
  try {
    created = await app.auth.bootstrap()
  } catch (err) {
    app.log.error({ err }, 'could not check for or create the bootstrap admin key')
    return
  }
  if (!created) return
  const rule = '='.repeat(78)
  process.stderr.write(
    [
      rule,
      'parley: first start: no admin API key existed, so one was generated.',
      'parley: It is shown this once and never again (only its hash is stored):',
      '',
      `    ${created.key}`,
      '',
      'parley: Send it as `Authorization: Bearer <key>`. Create narrower keys with',
      'parley: POST /v1/keys, and revoke this one (DELETE /v1/keys/<id>) once you have your own.',
      'parley: Lost it? `npm run keys -- create --scopes admin` on a host with the database.',
      rule,
      '',
    ].join('\n'),
  )
  app.log.warn(
    { keyId: created.id },
    'bootstrap admin key generated and printed on stderr; it is not shown again',
  )
}

void main()
