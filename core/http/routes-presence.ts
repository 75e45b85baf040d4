import { fastifySSE } from '@fastify/sse'
import type { FastifyInstance } from 'fastify'
import { AVAILABILITIES, parleyError, UNKNOWN_REASONS } from '../contract/index.js'
import { compareVersions, type LiveEntry } from '../presence/live-store.js'
import { ErrorResponse } from './error-handler.js'
import { AddressField } from './schemas.js'

const Observation = {
  type: 'object',
  properties: {
    availability: { type: 'string', enum: [...AVAILABILITIES] },
    status: { type: 'string' },
    raw: { type: 'string' },
    observedAt: { type: 'string' },
    source: { type: 'string' },
    from: { type: 'string', enum: ['redis', 'database'] },
  },
} as const

export const PresenceSchema = {
  $id: 'Presence',
  type: 'object',
  description:
    'Presence of one address. `unknown` comes with a `reason`, and with `lastKnown` when Parley has an older observation it will not report as current.',
  properties: {
    address: { type: 'string' },
    availability: { type: 'string', enum: [...AVAILABILITIES] },
    status: { type: 'string' },
    raw: { type: 'string', description: "The network's own value, e.g. XMPP `xa`" },
    observedAt: { type: 'string' },
    source: { type: 'string', description: 'The Parley identity whose subscription carried it' },
    lync: {
      type: 'integer',
      description: "Lync's numeric availability (3500 available … 18500 offline)",
    },
    reason: { type: 'string', enum: [...UNKNOWN_REASONS] },
    lastKnown: Observation,
  },
} as const

/** Most addresses one query or one stream may name. */
const MAX_ADDRESSES = 1000

/** GET /v1/presence/:address, POST /v1/presence/query, GET /v1/presence/stream (SSE). */
export async function presenceRoutes(
  app: FastifyInstance,
  options: { keepAliveMs: number },
): Promise<void> {
  await app.register(fastifySSE, { heartbeatInterval: options.keepAliveMs })
  app.addSchema(PresenceSchema)

  /** Normalised addresses; 400 for a malformed one or an unknown network. */
  const resolveAll = (addresses: string[]) =>
    addresses.map((value) => app.networks.resolve(value).address)

  app.get<{ Params: { address: string } }>(
    '/presence/:address',
    {
      config: { scope: 'presence:read' },
      schema: {
        summary: 'Current presence of one federated address',
        tags: ['presence'],
        params: { type: 'object', required: ['address'], properties: { address: AddressField } },
        response: { 200: { $ref: 'Presence#' }, '4xx': ErrorResponse },
      },
    },
    async (request, reply) => {
      // Pre-rendered JSON (see PresenceService.getJson): the hot path of presence queries.
      const json = await app.presence.getJson(app.networks.resolve(request.params.address).address)
      return reply.type('application/json; charset=utf-8').send(json)
    },
  )

  app.post<{ Body: { addresses: string[] } }>(
    '/presence/query',
    {
      config: { scope: 'presence:read' },
      schema: {
        summary: `Presence of up to ${MAX_ADDRESSES} addresses, in the order asked`,
        tags: ['presence'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['addresses'],
          properties: {
            addresses: {
              type: 'array',
              minItems: 1,
              maxItems: MAX_ADDRESSES,
              items: AddressField,
            },
          },
        },
        response: {
          200: {
            type: 'object',
            properties: { presence: { type: 'array', items: { $ref: 'Presence#' } } },
          },
          '4xx': ErrorResponse,
        },
      },
    },
    async (request) => ({ presence: await app.presence.query(resolveAll(request.body.addresses)) }),
  )

  app.get<{ Querystring: { addresses: string } }>(
    '/presence/stream',
    {
      // Only SSE: a request without an Accept for it still gets the stream
      // (RFC 9110: a missing Accept accepts anything), never a 500.
      sse: 'only',
      config: { scope: 'presence:read' },
      // @fastify/sse answers an Accept that rules SSE out with its own 406 body: give it our code.
      onSend: async (_request, reply, payload) => {
        if (reply.statusCode !== 406) return payload
        const error = parleyError('PARLEY_ERR_NOT_ACCEPTABLE', 'text/event-stream')
        reply.header('content-type', 'application/json; charset=utf-8')
        return JSON.stringify({
          statusCode: 406,
          code: error.code,
          error: 'Not Acceptable',
          message: error.message,
        })
      },
      schema: {
        summary: 'Server-Sent Events: presence changes of the given addresses',
        description:
          'Sends the current presence of each address (`event: presence`), then every change. ' +
          'Event ids are positions in the change log: reconnect with `Last-Event-ID` to get what was missed ' +
          '(or a fresh snapshot if the log no longer reaches back that far). Comment lines keep the connection alive.',
        tags: ['presence'],
        querystring: {
          type: 'object',
          required: ['addresses'],
          properties: {
            addresses: {
              type: 'string',
              minLength: 3,
              description: `Comma-separated addresses (at most ${MAX_ADDRESSES})`,
            },
          },
        },
      },
    },
    async (request, reply) => {
      const list = request.query.addresses.split(',').filter((a) => a.length > 0)
      if (list.length === 0 || list.length > MAX_ADDRESSES) {
        throw parleyError(
          'PARLEY_ERR_VALIDATION',
          `addresses: between 1 and ${MAX_ADDRESSES} comma-separated addresses`,
        )
      }
      const wanted = new Set(resolveAll(list))
      const { live } = app.presence
      const send = (id: string | undefined, address: string, entry?: LiveEntry) =>
        reply.sse
          .send({
            ...(id && { id }),
            event: 'presence',
            data: entry ? app.presence.view(address, entry) : undefined,
          })
          .catch(() => undefined)
      const sendCurrent = async (id: string) => {
        for (const presence of await app.presence.query([...wanted])) {
          await reply.sse.send({ id, event: 'presence', data: presence }).catch(() => undefined)
        }
      }

      // Changes that arrive while the backlog is read wait their turn.
      let backlog: LiveEntry[] | undefined = []
      let lastSent = '0-0'
      const onChange = (entry: LiveEntry) => {
        if (!wanted.has(entry.address)) return
        if (backlog) backlog.push(entry)
        else {
          lastSent = entry.version
          void send(entry.version, entry.address, entry)
        }
      }
      // A connection lost or regained changes what Parley can say, without a change in the log.
      const onStatus = (network: string) => {
        const affected = [...wanted].filter((a) => a.startsWith(`${network}:`))
        if (affected.length === 0 || backlog) return
        void app.presence.query(affected).then(async (presence) => {
          for (const p of presence) {
            await reply.sse.send({ event: 'presence', data: p }).catch(() => undefined)
          }
        })
      }
      live.on('change', onChange)
      app.networks.on('status', onStatus)
      reply.sse.onClose(() => {
        live.off('change', onChange)
        app.networks.off('status', onStatus)
      })
      reply.sse.keepAlive()

      const position = live.position
      const resumeFrom = reply.sse.lastEventId
      const history = resumeFrom
        ? await live.changesSince(resumeFrom).catch(() => undefined)
        : undefined
      if (history?.complete) {
        for (const entry of history.entries) {
          if (!wanted.has(entry.address)) continue
          lastSent = entry.version
          await send(entry.version, entry.address, entry)
        }
      } else {
        await sendCurrent(position)
        lastSent = position
      }
      const pending = backlog
      backlog = undefined
      for (const entry of pending) {
        if (compareVersions(entry.version, lastSent) > 0) {
          lastSent = entry.version
          await send(entry.version, entry.address, entry)
        }
      }
    },
  )
}
