import type { FastifyInstance } from 'fastify'
import { SCOPES } from '../auth/keys.js'
import { parleyError } from '../contract/index.js'
import { ErrorResponse } from './error-handler.js'

const ScopeList = {
  type: 'array',
  minItems: 1,
  maxItems: SCOPES.length,
  uniqueItems: true,
  items: { type: 'string', enum: [...SCOPES] },
  description: '`admin` implies every other scope',
} as const

const KeyInfo = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    prefix: { type: 'string', description: 'The public part of the key: `pk_<prefix>_…`' },
    scopes: ScopeList,
    createdAt: { type: 'string' },
    lastUsedAt: { type: ['string', 'null'], description: 'Updated at most once a minute' },
    revokedAt: { type: ['string', 'null'] },
  },
} as const

const IdParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: {
    id: {
      type: 'string',
      pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
    },
  },
} as const

/**
 * API keys over REST (scope `admin`): create (the key is in the answer, and
 * nowhere ever again), list (no hashes, no secrets), revoke.
 */
export async function keyRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: { name?: string; scopes: string[] } }>(
    '/keys',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Create an API key; the key is shown in this answer only',
        description: 'Parley stores only a hash of the key: copy it from this answer.',
        tags: ['keys'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['scopes'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 128 },
            scopes: ScopeList,
          },
        },
        response: {
          201: {
            type: 'object',
            additionalProperties: false,
            properties: {
              id: { type: 'string' },
              key: { type: 'string', description: '`pk_<prefix>_<secret>`: shown once' },
              name: { type: 'string' },
              scopes: ScopeList,
              createdAt: { type: 'string' },
            },
          },
          '4xx': ErrorResponse,
        },
      },
    },
    async (request, reply) => {
      const created = await app.store.apiKeys.create(request.body)
      request.log.info(
        { createdKeyId: created.id, scopes: created.scopes },
        'API key created over REST',
      )
      return reply.status(201).send(created)
    },
  )

  app.get(
    '/keys',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Every API key, revoked ones included (no hashes, no secrets)',
        tags: ['keys'],
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            properties: { keys: { type: 'array', items: KeyInfo } },
          },
          '4xx': ErrorResponse,
        },
      },
    },
    async () => ({ keys: await app.store.apiKeys.list() }),
  )

  app.delete<{ Params: { id: string } }>(
    '/keys/:id',
    {
      config: { scope: 'admin' },
      schema: {
        summary: 'Revoke an API key (at once on this host; other hosts within security.keyCacheMs)',
        tags: ['keys'],
        params: IdParams,
        response: { 204: { type: 'null' }, '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      const { id } = request.params
      if (!(await app.store.apiKeys.revoke(id.toLowerCase()))) {
        throw parleyError('PARLEY_ERR_NOT_FOUND', `no active API key with id '${id}'`)
      }
      app.auth.keys.forget(id.toLowerCase())
      request.log.info({ revokedKeyId: id }, 'API key revoked over REST')
      return reply.status(204).send()
    },
  )
}
