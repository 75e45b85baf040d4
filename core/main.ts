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

void main()
