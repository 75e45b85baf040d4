import type { FastifyInstance } from 'fastify'
import { parleyError, SUBSCRIPTION_STATES } from '../contract/index.js'
import type { Contact } from '../store/entities/index.js'
import { ErrorResponse } from './error-handler.js'
import { AddressField } from './schemas.js'

const ContactSchema = {
  $id: 'Contact',
  type: 'object',
  properties: {
    id: { type: 'string' },
    identity: { type: 'string', description: 'The Parley identity' },
    address: { type: 'string', description: 'The federated contact' },
    subscription: { type: 'string', enum: [...SUBSCRIPTION_STATES] },
    displayName: { type: ['string', 'null'] },
    updatedAt: { type: 'string' },
  },
} as const

const IdParams = {
  type: 'object',
  required: ['id'],
  properties: {
    id: {
      type: 'string',
      pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
    },
  },
} as const

/** Federated contacts: list, watch, unwatch, and decide pending contact requests. */
export async function contactRoutes(app: FastifyInstance): Promise<void> {
  app.addSchema(ContactSchema)

  const byId = async (id: string): Promise<Contact> => {
    const contact = await app.store.contacts.getById(id)
    if (!contact) throw parleyError('PARLEY_ERR_CONTACT_NOT_FOUND', id)
    return contact
  }

  app.get<{ Querystring: { identity?: string } }>(
    '/contacts',
    {
      config: { scope: 'presence:read' },
      schema: {
        summary: "An identity's contacts (default: every identity's), with subscription states",
        tags: ['contacts'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { identity: AddressField },
        },
        response: {
          200: {
            type: 'object',
            properties: { contacts: { type: 'array', items: { $ref: 'Contact#' } } },
          },
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => {
      const identities = request.query.identity
        ? [app.networks.resolve(request.query.identity).address]
        : app.networks.all().flatMap((n) => app.networks.view(n).identities)
      const contacts: Contact[] = []
      for (const identity of identities) contacts.push(...(await app.store.contacts.list(identity)))
      return { contacts }
    },
  )

  app.get<{ Params: { id: string } }>(
    '/contacts/:id',
    {
      config: { scope: 'presence:read' },
      schema: {
        summary: 'One contact',
        tags: ['contacts'],
        params: IdParams,
        response: { 200: { $ref: 'Contact#' }, '4xx': ErrorResponse },
      },
    },
    async (request) => byId(request.params.id),
  )

  app.post<{ Body: { address: string; identity?: string; displayName?: string } }>(
    '/contacts',
    {
      config: { scope: 'contacts:write' },
      schema: {
        summary: "Watch a federated user: send the network's subscription request and track it",
        tags: ['contacts'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['address'],
          properties: {
            address: AddressField,
            identity: {
              ...AddressField,
              description: "Watching identity; default: the network's first",
            },
            displayName: { type: 'string', maxLength: 255 },
          },
        },
        response: { 201: { $ref: 'Contact#' }, '4xx': ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => reply.status(201).send(await app.contacts.watch(request.body)),
  )

  app.delete<{ Params: { id: string } }>(
    '/contacts/:id',
    {
      config: { scope: 'contacts:write' },
      schema: {
        summary: 'Unwatch: unsubscribe on the network and forget the contact',
        tags: ['contacts'],
        params: IdParams,
        response: { 204: { type: 'null' }, '4xx': ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => {
      await app.contacts.unwatch(await byId(request.params.id))
      return reply.status(204).send()
    },
  )

  for (const decision of ['approve', 'refuse'] as const) {
    app.post<{ Params: { id: string } }>(
      `/contacts/:id/${decision}`,
      {
        config: { scope: 'contacts:write' },
        schema: {
          summary:
            decision === 'approve'
              ? 'Accept a pending contact request (and watch them in return)'
              : 'Refuse a pending contact request',
          tags: ['contacts'],
          params: IdParams,
          response: { 200: { $ref: 'Contact#' }, '4xx': ErrorResponse, 503: ErrorResponse },
        },
      },
      async (request) => app.contacts[decision](await byId(request.params.id)),
    )
  }
}
