import type { FastifyInstance } from 'fastify'
import { type ProviderFacts, parleyError } from '../contract/index.js'
import { decide, type Policy, type TrafficKind } from '../policy/index.js'
import { ErrorResponse } from './error-handler.js'
import { AddressField } from './schemas.js'

interface ExplainBody {
  from: string
  to: string
  kind?: TrafficKind
}

const Decision = {
  type: 'object',
  properties: {
    allow: { type: 'boolean' },
    rule: { type: 'string', description: 'The rule that decided' },
    reason: { type: 'string' },
    networkKind: { type: 'string' },
    trail: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          rule: { type: 'string' },
          pass: { type: 'boolean' },
          note: { type: 'string' },
        },
      },
    },
    request: { type: 'object', additionalProperties: true },
  },
} as const

/**
 * The federation policy, read-only for now: GET /v1/policy and
 * POST /v1/policy/explain (would this traffic cross the edge, and which rule
 * says so). See docs/policy.md; enforcement on the traffic paths comes next.
 */
export async function policyRoutes(app: FastifyInstance, options: { policy: Policy }) {
  app.get(
    '/policy',
    {
      schema: {
        summary: 'The federation policy in force (seeded from fastify.config.ts)',
        tags: ['policy'],
        response: { 200: { type: 'object', additionalProperties: true } },
      },
    },
    async () => options.policy,
  )

  app.post<{ Body: ExplainBody }>(
    '/policy/explain',
    {
      schema: {
        summary:
          'Would the policy let this traffic cross the edge? Allow or deny, and the rule that decided',
        tags: ['policy'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['from', 'to'],
          properties: {
            from: AddressField,
            to: AddressField,
            kind: { type: 'string', enum: ['message', 'presence', 'subscription', 'call'] },
          },
        },
        response: { 200: Decision, '4xx': ErrorResponse },
      },
    },
    async (request) => {
      const from = app.networks.resolve(request.body.from)
      const to = app.networks.resolve(request.body.to)
      if (from.network !== to.network)
        throw parleyError('PARLEY_ERR_VALIDATION', 'from and to must be on the same network')
      const network = from.network
      const identities = network.connection?.identities() ?? []
      const outbound = identities.includes(from.address)
      if (!outbound && !identities.includes(to.address)) {
        throw parleyError(
          'PARLEY_ERR_NO_IDENTITY',
          network.name,
          `neither ${from.address} nor ${to.address} is one of ${identities.join(', ') || 'its identities'}`,
        )
      }
      const identity = outbound ? from.address : to.address
      const remote = outbound ? to.address : from.address
      const contact = await app.store.contacts.get(identity, remote)
      const provider = (network.definition as { provider?: ProviderFacts } | undefined)?.provider
      const policyRequest = {
        direction: outbound ? ('outbound' as const) : ('inbound' as const),
        network: network.name,
        ...(network.definition?.networkKind && { networkKind: network.definition.networkKind }),
        remote,
        identity,
        kind: request.body.kind ?? 'message',
        remoteIsContact:
          contact !== undefined &&
          contact.subscription !== 'refused' &&
          contact.subscription !== 'pending-in',
        ...(provider && { provider }),
      }
      return { ...decide(options.policy, policyRequest), request: policyRequest }
    },
  )
}
