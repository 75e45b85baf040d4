import type { FastifyInstance } from 'fastify'

/** GET /health: is this host able to do its job? 503 when Redis or the database is down. */
export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/health',
    {
      schema: {
        summary: 'Host health: Redis, database and each network',
        tags: ['host'],
        response: {
          '2xx': { $ref: 'Health#' },
          503: { $ref: 'Health#' },
        },
      },
    },
    async (_request, reply) => {
      const [redis, database] = await Promise.all([
        app.queues.producer
          .ping()
          .then(() => 'up' as const)
          .catch(() => 'down' as const),
        app.store
          .ping()
          .then(() => 'up' as const)
          .catch(() => 'down' as const),
      ])
      const networks = Object.fromEntries(app.networks.all().map((n) => [n.name, n.status.state]))
      const ok = redis === 'up' && database === 'up'
      return reply
        .status(ok ? 200 : 503)
        .send({ status: ok ? 'ok' : 'unavailable', redis, database, networks })
    },
  )
}

export const HealthSchema = {
  $id: 'Health',
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'unavailable'] },
    redis: { type: 'string', enum: ['up', 'down'] },
    database: { type: 'string', enum: ['up', 'down'] },
    networks: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const
