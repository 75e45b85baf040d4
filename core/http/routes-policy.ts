import type { FastifyInstance, FastifyRequest } from 'fastify'
import { parleyError } from '../contract/index.js'
import {
  checkProviderEdit,
  DomainSchema,
  EdgeSettingsSchema,
  ExternalAccessPolicySchema,
  GLOBAL_POLICY,
  type Policy,
  PolicySchema,
  type PublicProvider,
  PublicProviderSchema,
  policyError,
  type TrafficKind,
  XmppPartnerSchema,
} from '../policy/index.js'
import type { EditResult, PolicyEdit, PolicyState } from '../policy/service.js'
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
    policyVersion: { type: 'integer' },
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

const PolicyResponse = {
  type: 'object',
  properties: {
    version: { type: 'integer' },
    author: { type: 'string' },
    summary: { type: 'string' },
    updatedAt: { type: 'string' },
    policy: { type: 'object', additionalProperties: true },
    warnings: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          code: { type: 'string' },
          path: { type: 'string' },
          message: { type: 'string' },
        },
      },
    },
  },
} as const

const replies = (ok: 200 | 201 = 200) => ({ [ok]: PolicyResponse, '4xx': ErrorResponse })

/** Every policy route needs an admin key (core/http/auth.ts reads `config.scope`). */
const ADMIN = { scope: 'admin' } as const

const DomainParams = {
  type: 'object',
  required: ['domain'],
  properties: { domain: DomainSchema },
} as const
const NameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 1024 } },
} as const

const lower = (d: string) => d.toLowerCase()

/**
 * A body schema for a partial edit: the given properties, none required,
 * and without their defaults (which would otherwise be filled in and
 * overwrite what the edit leaves alone).
 */
function partialBody(properties: Record<string, object>) {
  const stripped = Object.fromEntries(
    Object.entries(properties).map(([name, schema]) => {
      const { default: _default, ...rest } = schema as { default?: unknown }
      return [name, rest]
    }),
  )
  return { type: 'object', additionalProperties: false, minProperties: 1, properties: stripped }
}

/** The edit's author as the history shows it: the API key's name when there is one. */
function authorOf(request: FastifyRequest): string {
  const key = (request as { apiKey?: { name?: string } }).apiKey
  return key?.name ? `key:${key.name}` : 'rest'
}

function view(state: PolicyState | EditResult) {
  return {
    version: state.version,
    author: state.author,
    summary: state.summary,
    updatedAt: state.updatedAt,
    policy: state.policy,
    warnings: 'warnings' in state ? state.warnings : [],
  }
}

/**
 * The federation policy over REST (docs/policy.md): read it, its history and
 * refusal counts; edit it piece by piece, as Lync's cmdlets did (each edit is
 * validated whole and stored as the next version); and ask it
 * (POST /v1/policy/explain). Every route requires an admin key.
 */
export async function policyRoutes(app: FastifyInstance) {
  const edit = async (
    request: FastifyRequest,
    summary: string,
    change: PolicyEdit,
    expectVersion?: number,
  ) =>
    view(
      await app.policy.edit(change, {
        author: authorOf(request),
        summary,
        ...(expectVersion !== undefined && { expectVersion }),
      }),
    )

  app.get(
    '/policy',
    {
      config: ADMIN,
      schema: {
        summary: 'The federation policy in force, with its version',
        tags: ['policy'],
        response: replies(),
      },
    },
    async () => view(app.policy.state),
  )

  app.put<{ Body: { policy: Policy; expectVersion?: number } }>(
    '/policy',
    {
      config: ADMIN,
      schema: {
        summary: 'Replace the whole policy (optionally only if it is still at expectVersion)',
        tags: ['policy'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['policy'],
          properties: {
            policy: PolicySchema,
            expectVersion: { type: 'integer', minimum: 0 },
          },
        },
        response: replies(),
      },
    },
    async (request) =>
      edit(request, 'policy replaced', () => request.body.policy, request.body.expectVersion),
  )

  app.get<{ Querystring: { limit?: string } }>(
    '/policy/history',
    {
      config: ADMIN,
      schema: {
        summary: 'Versions of the policy, newest first (who changed what, when)',
        tags: ['policy'],
        querystring: {
          type: 'object',
          additionalProperties: false,
          // Query values are strings (no type coercion anywhere in the API).
          properties: { limit: { type: 'string', pattern: '^(1000|[1-9][0-9]{0,2})$' } },
        },
      },
    },
    async (request) => ({
      versions: await app.store.policies.history(Number(request.query.limit ?? 50)),
    }),
  )

  app.get(
    '/policy/refusals',
    {
      config: ADMIN,
      schema: {
        summary: 'Traffic refused by the policy or the sender limit, by direction and rule',
        tags: ['policy'],
      },
    },
    async () => ({ refusals: await app.gate.refusals() }),
  )

  app.patch<{ Body: Partial<Policy['edge']> }>(
    '/policy/edge',
    {
      config: ADMIN,
      schema: {
        summary: 'Change edge settings (allowFederatedUsers, partnerDiscovery, …)',
        tags: ['policy'],
        body: partialBody(EdgeSettingsSchema.properties),
        response: replies(),
      },
    },
    async (request) =>
      edit(request, `edge ${JSON.stringify(request.body)}`, (p) => ({
        ...p,
        edge: { ...p.edge, ...request.body },
      })),
  )

  // Public providers: created whole, edited except for name and proxy FQDN, removed.
  app.post<{ Body: PublicProvider }>(
    '/policy/providers',
    {
      config: ADMIN,
      schema: {
        summary: 'Add a public IM provider (name and proxy FQDN unique)',
        tags: ['policy'],
        body: PublicProviderSchema,
        response: replies(201),
      },
    },
    async (request, reply) => {
      const result = await edit(request, `providers + ${request.body.name}`, (p) => ({
        ...p,
        publicProviders: [...p.publicProviders, request.body],
      }))
      return reply.status(201).send(result)
    },
  )

  app.patch<{ Params: { name: string }; Body: Partial<PublicProvider> }>(
    '/policy/providers/:name',
    {
      config: ADMIN,
      schema: {
        summary:
          'Edit a public provider: enabled, verificationLevel, network (its proxy FQDN cannot change in place)',
        tags: ['policy'],
        params: NameParams,
        body: partialBody(PublicProviderSchema.properties),
        response: replies(),
      },
    },
    async (request) =>
      edit(request, `providers ~ ${request.params.name}`, (p) => {
        const index = p.publicProviders.findIndex((x) => x.name === request.params.name)
        const old = p.publicProviders[index]
        if (!old) throw parleyError('PARLEY_ERR_NOT_FOUND', `provider '${request.params.name}'`)
        const next = { ...old, ...request.body }
        const checked = checkProviderEdit(old, next)
        if (!checked.ok) throw policyError(checked)
        const publicProviders = [...p.publicProviders]
        publicProviders[index] = next
        return { ...p, publicProviders }
      }),
  )

  app.delete<{ Params: { name: string } }>(
    '/policy/providers/:name',
    {
      config: ADMIN,
      schema: {
        summary: 'Remove a public provider',
        tags: ['policy'],
        params: NameParams,
        response: replies(),
      },
    },
    async (request) =>
      edit(request, `providers - ${request.params.name}`, (p) => {
        if (!p.publicProviders.some((x) => x.name === request.params.name))
          throw parleyError('PARLEY_ERR_NOT_FOUND', `provider '${request.params.name}'`)
        return {
          ...p,
          publicProviders: p.publicProviders.filter((x) => x.name !== request.params.name),
        }
      }),
  )

  // Allowed and blocked domains: disjoint lists (adding to one what the other holds is a 409).
  for (const [segment, field] of [
    ['allowed-domains', 'allowedDomains'],
    ['blocked-domains', 'blockedDomains'],
  ] as const) {
    app.put<{ Params: { domain: string } }>(
      `/policy/${segment}/:domain`,
      {
        config: ADMIN,
        schema: {
          summary: `Add a domain to ${field} (idempotent)`,
          tags: ['policy'],
          params: DomainParams,
          response: replies(),
        },
      },
      async (request) => {
        const domain = lower(request.params.domain)
        return edit(request, `${field} + ${domain}`, (p) =>
          p[field].some((d) => lower(d) === domain) ? p : { ...p, [field]: [...p[field], domain] },
        )
      },
    )
    app.delete<{ Params: { domain: string } }>(
      `/policy/${segment}/:domain`,
      {
        config: ADMIN,
        schema: {
          summary: `Remove a domain from ${field}`,
          tags: ['policy'],
          params: DomainParams,
          response: replies(),
        },
      },
      async (request) => {
        const domain = lower(request.params.domain)
        return edit(request, `${field} - ${domain}`, (p) => {
          if (!p[field].some((d) => lower(d) === domain))
            throw parleyError('PARLEY_ERR_NOT_FOUND', `'${domain}' in ${field}`)
          return { ...p, [field]: p[field].filter((d) => lower(d) !== domain) }
        })
      },
    )
  }

  // External access policies: `global` or one identity's own.
  const { name: _name, ...accessFlags } = ExternalAccessPolicySchema.properties
  app.put<{ Params: { name: string }; Body: Record<string, boolean> }>(
    '/policy/access/:name',
    {
      config: ADMIN,
      schema: {
        summary:
          "Set an external access policy ('global', or an identity's address): federation, publicCloud, publicCloudAudioVideo, xmpp",
        tags: ['policy'],
        params: NameParams,
        body: { type: 'object', additionalProperties: false, properties: accessFlags },
        response: replies(),
      },
    },
    async (request) =>
      edit(request, `access ${request.params.name} ${JSON.stringify(request.body)}`, (p) => {
        const entry = {
          name: request.params.name,
          ...request.body,
        } as Policy['externalAccessPolicies'][number]
        const rest = p.externalAccessPolicies.filter((x) => x.name !== entry.name)
        return { ...p, externalAccessPolicies: [...rest, entry] }
      }),
  )

  app.delete<{ Params: { name: string } }>(
    '/policy/access/:name',
    {
      config: ADMIN,
      schema: {
        summary:
          "Remove an identity's own access policy (the global one applies again); 'global' is reset to all off",
        tags: ['policy'],
        params: NameParams,
        response: replies(),
      },
    },
    async (request) =>
      edit(request, `access - ${request.params.name}`, (p) => {
        const { name } = request.params
        if (!p.externalAccessPolicies.some((x) => x.name === name))
          throw parleyError('PARLEY_ERR_NOT_FOUND', `access policy '${name}'`)
        const rest = p.externalAccessPolicies.filter((x) => x.name !== name)
        const reset = {
          name: GLOBAL_POLICY,
          federation: false,
          publicCloud: false,
          publicCloudAudioVideo: false,
          xmpp: false,
        }
        return { ...p, externalAccessPolicies: name === GLOBAL_POLICY ? [...rest, reset] : rest }
      }),
  )

  // XMPP partners, by primary domain; checked against Lync's negotiation matrix.
  const { domain: _domain, ...partnerFields } = XmppPartnerSchema.properties
  app.put<{ Params: { domain: string }; Body: Record<string, unknown> }>(
    '/policy/xmpp-partners/:domain',
    {
      config: ADMIN,
      schema: {
        summary: 'Add or replace an XMPP partner (TLS, SASL and dialback checked as Lync did)',
        tags: ['policy'],
        params: DomainParams,
        body: { type: 'object', additionalProperties: false, properties: partnerFields },
        response: replies(),
      },
    },
    async (request) => {
      const domain = lower(request.params.domain)
      return edit(request, `xmppPartners ~ ${domain}`, (p) => {
        const entry = { domain, ...request.body } as Policy['xmppPartners'][number]
        const rest = p.xmppPartners.filter((x) => lower(x.domain) !== domain)
        return { ...p, xmppPartners: [...rest, entry] }
      })
    },
  )

  app.delete<{ Params: { domain: string } }>(
    '/policy/xmpp-partners/:domain',
    {
      config: ADMIN,
      schema: {
        summary: 'Remove an XMPP partner',
        tags: ['policy'],
        params: DomainParams,
        response: replies(),
      },
    },
    async (request) => {
      const domain = lower(request.params.domain)
      return edit(request, `xmppPartners - ${domain}`, (p) => {
        if (!p.xmppPartners.some((x) => lower(x.domain) === domain))
          throw parleyError('PARLEY_ERR_NOT_FOUND', `XMPP partner '${domain}'`)
        return { ...p, xmppPartners: p.xmppPartners.filter((x) => lower(x.domain) !== domain) }
      })
    },
  )

  app.post<{ Body: ExplainBody }>(
    '/policy/explain',
    {
      config: ADMIN,
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
      return app.gate.explain(
        network.name,
        outbound ? 'outbound' : 'inbound',
        outbound ? from.address : to.address,
        outbound ? to.address : from.address,
        request.body.kind ?? 'message',
      )
    },
  )
}
