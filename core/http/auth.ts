import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  RequestPayload,
  RouteOptions,
} from 'fastify'
import fp from 'fastify-plugin'
import type { Redis } from 'ioredis'
import { KeyCache } from '../auth/key-cache.js'
import { grants, isScope, parseKey, SCOPES, type Scope } from '../auth/keys.js'
import type { ParleyConfig } from '../config/schema.js'
import { parleyError } from '../contract/index.js'
import type { CreatedApiKey, VerifiedApiKey } from '../store/api-key-store.js'
import type { Store } from '../store/store.js'
import { ErrorResponse } from './error-handler.js'
import { sharedCounterStore } from './rate-limit-store.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The scope a route needs (`admin` implies every scope). A route that
     * declares none needs `admin`: plugins' routes are closed by default.
     */
    scope?: Scope
    /** Set by the auth plugin (never by a route): the route needs no key. */
    public?: boolean
  }
  interface FastifyRequest {
    /** The verified API key (never the key itself), or null on public routes and refusals. */
    apiKey: VerifiedApiKey | null
  }
  interface FastifyInstance {
    auth: Auth
  }
}

/** What the auth plugin offers the host. */
export interface Auth {
  /** Verified keys, cached per host (see KeyCache); `forget(id)` after a revocation. */
  readonly keys: KeyCache
  /** Every route registered so far, with what it needs: a scope, or nothing. */
  routes(): RouteAccess[]
  /**
   * First start: generates the bootstrap admin key when no active admin key
   * exists, and returns it (the only time the plain key is available).
   */
  bootstrap(): Promise<CreatedApiKey | undefined>
}

export interface RouteAccess {
  method: string
  url: string
  /** The scope needed; `public` routes need no key. */
  scope: Scope | 'public'
}

export interface AuthOptions {
  store: Store
  /** Shared rate-limit counters live here (every host on the same prefix shares them). */
  redis: Redis
  prefix: string
  security: ParleyConfig['security']
  /** Paths (and everything under them) open without a key. */
  publicPaths: readonly string[]
}

/** What Fastify's request logger (pino) has and its type does not show. */
interface PinoLike {
  isLevelEnabled(level: string): boolean
  setBindings(bindings: Record<string, unknown>): void
}

type HookDone = HookHandlerDoneFunction

/** A route option that may hold one hook or several, as an array. */
function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value]
}

const problem = Symbol('parley.authProblem')
type WithProblem = FastifyRequest & { [problem]?: string }

const BEARER = /^Bearer +(\S+) *$/i
const REALM = 'Bearer realm="parley"'

/**
 * API keys on every route but the public ones, and per-key rate limits.
 *
 * Order, per request: (1) onRequest, this plugin's hook: the key in
 * `Authorization: Bearer <key>` is verified and the request decorated with
 * it (nothing is refused yet); (2) onRequest, the route's rate-limit hook:
 * counted per key id, or per client IP without a usable key, so floods of
 * bad keys are limited too; (3) preParsing: 401 without a usable key, 403
 * when the key lacks the route's scope, before any body is read.
 */
async function authPlugin(app: FastifyInstance, options: AuthOptions): Promise<void> {
  const { security } = options
  const keys = new KeyCache({ keys: options.store.apiKeys, ttlMs: security.keyCacheMs })
  const table: RouteAccess[] = []
  const isPublicPath = (url: string) =>
    options.publicPaths.some((p) => url === p || url.startsWith(`${p}/`))

  if (security.adminKey) {
    const adopted = await options.store.apiKeys
      .adopt(security.adminKey, { name: 'configured admin key', scopes: ['admin'] })
      .catch((error: Error) => {
        throw parleyError('PARLEY_ERR_CONFIG', `security.adminKey: ${error.message}`)
      })
    if (adopted === 'revoked') {
      throw parleyError(
        'PARLEY_ERR_CONFIG',
        'security.adminKey (PARLEY_ADMIN_KEY) was revoked; configure another key',
      )
    }
    app.log.info(
      { keyPrefix: security.adminKey.slice(0, 11), stored: adopted === 'stored' },
      'configured admin key recognised',
    )
  }

  app.decorateRequest('apiKey', null)
  app.decorate('auth', {
    keys,
    routes: () => table.map((r) => ({ ...r })),
    bootstrap: () => options.store.apiKeys.bootstrapAdmin(),
  } satisfies Auth)

  // Each route's requirement is settled once, when it is registered.
  app.addHook('onRoute', (route) => {
    const declared = route.config?.scope
    if (declared !== undefined && !isScope(declared)) {
      throw parleyError(
        'PARLEY_ERR_INTERNAL',
        `route ${route.url} declares the unknown scope '${String(declared)}' (known: ${SCOPES.join(', ')})`,
      )
    }
    const open = isPublicPath(route.url)
    const scope: Scope = declared ?? 'admin'
    route.config = { ...route.config, public: open, ...(!open && { scope }) }
    for (const method of [route.method].flat()) {
      table.push({ method, url: route.url, scope: open ? 'public' : scope })
    }
    describeInOpenApi(route, open ? undefined : scope)
    if (open) return
    // Route-level hooks, first in line: the route's scope is known here, so a
    // request costs no route-options lookup, and public routes no hook at all.
    // The rate limit's own hook (added by its onRoute, after this one) runs next.
    route.onRequest = [identify, ...asArray(route.onRequest)]
    route.preParsing = [requireScope(scope), ...asArray(route.preParsing)]
  })

  // Both hooks are callback-style and answer a cached key without a promise:
  // they run on every request, and the presence read they guard is itself
  // only a map lookup (bench/presence).
  function identify(request: FastifyRequest, _reply: FastifyReply, done: HookDone) {
    const header = request.headers.authorization
    const refuse = (why: string) => {
      ;(request as WithProblem)[problem] = why
      done()
    }
    if (header === undefined) return refuse('no API key (send Authorization: Bearer <key>)')
    const match = BEARER.exec(header)
    if (!match) return refuse("the Authorization header must read 'Bearer <key>'")
    const token = match[1] as string
    if (!parseKey(token)) return refuse('malformed API key (keys read pk_<prefix>_<secret>)')
    const accept = (key: VerifiedApiKey | undefined) => {
      if (!key) return refuse('unknown or revoked API key')
      request.apiKey = key
      // Logged by id and name; the key itself never reaches the log. Bound to
      // the request's logger only when it writes per-request lines (info and
      // below): binding costs a serialisation per request. Refusals and
      // failures name the key in any case (error-handler.ts).
      const log = request.log as unknown as PinoLike
      if (log.isLevelEnabled('info')) log.setBindings({ keyId: key.id, keyName: key.name })
      done()
    }
    const cached = keys.cached(token)
    if (cached) return accept(cached)
    keys.verify(token).then(accept, done)
  }

  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    // Counters shared in Redis without a round trip per request (rate-limit-store.ts).
    store: sharedCounterStore({ redis: options.redis, namespace: `${options.prefix}:rate-limit:` }),
    timeWindow: security.rateLimit.timeWindowMs,
    max: (_request, key) =>
      String(key).startsWith('key:')
        ? security.rateLimit.max
        : security.rateLimit.unauthenticatedMax,
    keyGenerator: (request) =>
      request.apiKey ? `key:${request.apiKey.id}` : `ip:${normalizeIP(request.ip)}`,
    // Redis down: requests pass unlimited (the host is degraded anyway; /health says so).
    skipOnError: true,
    onExceeded: (request, key) => request.log.warn({ limit: key }, 'rate limit exceeded'),
    errorResponseBuilder: (_request, context) =>
      parleyError(
        'PARLEY_ERR_RATE_LIMITED',
        `${context.max} requests per ${security.rateLimit.timeWindowMs} ms; retry in ${context.after}`,
      ),
  })

  function requireScope(scope: Scope) {
    return (
      request: FastifyRequest,
      reply: FastifyReply,
      payload: RequestPayload,
      done: (error: Error | null, payload?: RequestPayload) => void,
    ) => {
      const key = request.apiKey
      if (!key) {
        void reply.header('www-authenticate', `${REALM}, error="invalid_token"`)
        return done(
          parleyError('PARLEY_ERR_UNAUTHORIZED', (request as WithProblem)[problem] ?? 'no API key'),
        )
      }
      if (!grants(key.scopes, scope)) {
        void reply.header(
          'www-authenticate',
          `${REALM}, error="insufficient_scope", scope="${scope}"`,
        )
        return done(
          parleyError(
            'PARLEY_ERR_FORBIDDEN',
            `this route needs the scope '${scope}'; the key has ${key.scopes.join(', ')}`,
          ),
        )
      }
      done(null, payload)
    }
  }
}

/** The scope in the route's OpenAPI description, and the refusals among its responses. */
function describeInOpenApi(route: RouteOptions, scope: Scope | undefined): void {
  // A route without a schema still appears in the document: it gets one that only describes.
  const schema = (route.schema ?? {}) as Record<string, unknown>
  if (!scope) {
    route.schema = { ...schema, security: [] }
    return
  }
  const note = `Needs an API key with the scope \`${scope}\`${scope === 'admin' ? '' : ' (or `admin`)'}.`
  const response = schema.response as Record<string, unknown> | undefined
  route.schema = {
    ...schema,
    description: schema.description ? `${String(schema.description)}\n\n${note}` : note,
    ...(response && {
      response: {
        ...response,
        401: {
          ...ErrorResponse,
          description: 'No usable API key (PARLEY_ERR_UNAUTHORIZED)',
        },
        403: {
          ...ErrorResponse,
          description: `The key lacks the scope \`${scope}\` (PARLEY_ERR_FORBIDDEN)`,
        },
        429: {
          ...ErrorResponse,
          description: 'Rate limit reached; see Retry-After (PARLEY_ERR_RATE_LIMITED)',
        },
      },
    }),
  }
}

export const auth = fp(authPlugin, { name: 'parley-auth' })

/** The OpenAPI security scheme (`components.securitySchemes`) the routes refer to. */
export const BEARER_SECURITY_SCHEME = {
  type: 'http',
  scheme: 'bearer',
  description:
    'An API key, `Authorization: Bearer pk_<prefix>_<secret>`; each route names the scope it needs (docs/security.md).',
} as const
