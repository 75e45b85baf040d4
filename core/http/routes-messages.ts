import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { parleyError } from '../contract/index.js'
import { ErrorResponse } from './error-handler.js'
import { AddressField } from './schemas.js'

const MESSAGE_STATUSES = ['queued', 'sent', 'delivered', 'failed', 'received', 'handled'] as const
type MessageStatus = (typeof MESSAGE_STATUSES)[number]

const SendBody = {
  type: 'object',
  additionalProperties: false,
  required: ['to', 'text'],
  properties: {
    from: {
      ...AddressField,
      description: "Sending identity; default: the network's first identity",
    },
    to: { ...AddressField, description: 'Recipient, `network:id`, e.g. `xmpp:alice@example.org`' },
    text: { type: 'string', minLength: 1, maxLength: 65536 },
  },
} as const

const MessageView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    direction: { type: 'string', enum: ['in', 'out'] },
    network: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    text: { type: 'string' },
    status: {
      type: 'string',
      enum: ['queued', 'sent', 'delivered', 'failed', 'received', 'handled'],
    },
    attempts: { type: 'integer' },
    remoteId: { type: ['string', 'null'] },
    error: { type: ['string', 'null'] },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const

interface SendBodyType {
  from?: string
  to: string
  text: string
}

/** POST /v1/messages (queue a message to a federated user) and GET /v1/messages/:id (its status). */
export async function messageRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: SendBodyType }>(
    '/messages',
    {
      config: { scope: 'messages:send' },
      schema: {
        summary: 'Queue a message to a federated user',
        description:
          'Accepted messages are recorded and queued; 202 means the host will deliver or report failure.',
        tags: ['messages'],
        body: SendBody,
        response: {
          202: {
            type: 'object',
            properties: { id: { type: 'string' }, status: { type: 'string' } },
          },
          '4xx': ErrorResponse,
          503: ErrorResponse,
        },
      },
    },
    async (request, reply) => {
      const { network, address: recipient } = app.networks.resolve(request.body.to)
      if (!network.definition?.capabilities.im)
        throw parleyError('PARLEY_ERR_CAPABILITY', network.name, 'instant messages')
      if (network.status.state === 'failed' || !network.connection) {
        throw parleyError('PARLEY_ERR_NOT_CONNECTED', network.name)
      }
      const identities = network.connection.identities()
      const from = request.body.from ?? identities[0]
      if (!from || !identities.includes(from)) {
        throw parleyError(
          'PARLEY_ERR_NO_IDENTITY',
          network.name,
          from ? `'${from}' is not one of ${identities.join(', ')}` : 'the network has no identity',
        )
      }
      const record = await app.outbound({
        id: randomUUID(),
        from,
        to: recipient,
        text: request.body.text,
      })
      return reply.status(202).send({ id: record.id, status: record.status })
    },
  )

  app.get<{
    Querystring: {
      status?: MessageStatus
      direction?: 'in' | 'out'
      network?: string
      limit?: string
    }
  }>(
    '/messages',
    {
      config: { scope: 'messages:send' },
      schema: {
        summary: 'Message records, newest first (e.g. the failed ones)',
        tags: ['messages'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...MESSAGE_STATUSES] },
            direction: { type: 'string', enum: ['in', 'out'] },
            network: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,31}$' },
            limit: {
              type: 'string',
              pattern: '^(?:[1-9][0-9]{0,2}|1000)$',
              description: '1-1000, default 50',
            },
          },
        },
        response: {
          200: { type: 'object', properties: { messages: { type: 'array', items: MessageView } } },
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const { limit, ...filters } = request.query
      return {
        messages: await app.store.messages.list({ ...filters, limit: limit ? Number(limit) : 50 }),
      }
    },
  )

  app.get<{ Params: { id: string } }>(
    '/messages/:id',
    {
      config: { scope: 'messages:send' },
      schema: {
        summary: "A message's delivery status",
        tags: ['messages'],
        params: {
          type: 'object',
          properties: {
            id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9-]+$' },
          },
          required: ['id'],
        },
        response: { 200: MessageView, 404: ErrorResponse },
      },
    },
    async (request) => {
      const record = await app.store.messages.get(request.params.id)
      if (!record) throw parleyError('PARLEY_ERR_MESSAGE_NOT_FOUND', request.params.id)
      return record
    },
  )
}
