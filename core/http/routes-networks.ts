import type { FastifyInstance } from 'fastify'
import { parleyError } from '../contract/index.js'
import { ErrorResponse } from './error-handler.js'

const NetworkView = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    version: { type: ['string', 'null'] },
    status: {
      type: 'string',
      enum: ['connecting', 'online', 'degraded', 'offline', 'failed', 'retired'],
    },
    retired: {
      type: ['string', 'null'],
      description:
        'For a public provider whose service ended: the date (the network was not started)',
    },
    reason: { type: ['string', 'null'] },
    since: { type: 'string', format: 'date-time' },
    capabilities: { type: ['object', 'null'], additionalProperties: true },
    identities: { type: 'array', items: { type: 'string' } },
    lastError: {
      type: ['object', 'null'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, at: { type: 'string' } },
    },
    lease: {
      type: ['object', 'null'],
      description:
        'Which host process owns the connection (docs/scaling.md); null before the first attempt',
      properties: {
        owner: { type: ['string', 'null'], description: 'Instance id of the owning process' },
        mine: { type: 'boolean', description: 'Whether the process answering owns it' },
        fence: { type: 'integer', description: 'Grows with every new owner' },
      },
    },
    options: {
      type: 'object',
      additionalProperties: true,
      description: 'Configured options, secrets redacted',
    },
  },
} as const

/** GET /v1/networks and /v1/networks/:name: each plugin's state, capabilities and last error. */
export async function networkRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/networks',
    {
      config: { scope: 'presence:read' },
      schema: {
        summary: 'Every configured network with its connection status',
        tags: ['networks'],
        response: {
          200: { type: 'object', properties: { networks: { type: 'array', items: NetworkView } } },
        },
      },
    },
    async () => ({ networks: app.networks.all().map((n) => app.networks.view(n)) }),
  )
  app.get<{ Params: { name: string } }>(
    '/networks/:name',
    {
      config: { scope: 'presence:read' },
      schema: {
        summary: 'One network',
        tags: ['networks'],
        params: {
          type: 'object',
          properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,31}$' } },
          required: ['name'],
        },
        response: { 200: NetworkView, 404: ErrorResponse },
      },
    },
    async (request) => {
      const network = app.networks.get(request.params.name)
      if (!network) throw parleyError('PARLEY_ERR_NOT_FOUND', `network '${request.params.name}'`)
      return app.networks.view(network)
    },
  )
}
