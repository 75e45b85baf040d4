import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
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
import { rateLimiter } from './rate-limit.js'
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

const BEARER = /^Bearer +(\S+) *$/i
const REALM = 'Bearer realm="parley"'

/**
 * API keys on every route but the public ones, and per-key rate limits.
 *
 * One onRequest hook per route, first in line, does it all, in this order:
 * (1) the key in `Authorization: Bearer <key>` is verified and the request
 * decorated with it; (2) the request is counted (rate-limit.ts) per key id,
 * or per client IP without a usable key, so floods of bad keys are limited
 * too; (3) 401 without a usable key, 403 when the key lacks the route's
 * scope, before any body is read. Public routes are only counted, per IP.
 */
async function authPlugin(app: FastifyInstance, options: AuthOptions): Promise<void> {
  const { security } = options
  const keys = new KeyCache({ keys: options.store.apiKeys, ttlMs: security.keyCacheMs })
  const Counters = sharedCounterStore({
    redis: options.redis,
    namespace: `${options.prefix}:rate-limit:`,
  })
  const limit = rateLimiter({
    // Counters shared in Redis without a round trip per request (rate-limit-store.ts).
    store: new Counters(),
    max: security.rateLimit.max,
    unauthenticatedMax: security.rateLimit.unauthenticatedMax,
    timeWindowMs: security.rateLimit.timeWindowMs,
  })
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
    // A route-level hook, first in line: the route's scope is known here, so a
    // request costs no route-options lookup. One callback hook does what three
    // did (the key, @fastify/rate-limit's async hook, the scope on preParsing),
    // about 2 µs less CPU per presence read of about 20 (bench/presence).
    route.onRequest = [open ? limit : guard(scope), ...asArray(route.onRequest)]
  })

  // Callback-style, and a cached key is answered without a promise: this
  // runs on every request, and the presence read it guards is itself only a
  // map lookup (bench/presence).
  function guard(scope: Scope) {
    return function authorize(request: FastifyRequest, reply: FastifyReply, done: HookDone) {
      const header = request.headers.authorization
      if (header === undefined) {
        return refuse(request, reply, done, 'no API key (send Authorization: Bearer <key>)')
      }
      const match = BEARER.exec(header)
      if (!match) {
        return refuse(request, reply, done, "the Authorization header must read 'Bearer <key>'")
      }
      const token = match[1] as string
      if (!parseKey(token)) {
        return refuse(request, reply, done, 'malformed API key (keys read pk_<prefix>_<secret>)')
      }
      const cached = keys.cached(token)
      if (cached) return admit(request, reply, done, cached, scope)
      keys
        .verify(token)
        .then(
          (key) =>
            key
              ? admit(request, reply, done, key, scope)
              : refuse(request, reply, done, 'unknown or revoked API key'),
          done,
        )
    }
  }

  /** A verified key: counted against its budget, then held to the route's scope. */
  function admit(
    request: FastifyRequest,
    reply: FastifyReply,
    done: HookDone,
    key: VerifiedApiKey,
    scope: Scope,
  ) {
    request.apiKey = key
    // Logged by id and name; the key itself never reaches the log. Bound to
    // the request's logger only when it writes per-request lines (info and
    // below): binding costs a serialisation per request. Refusals and
    // failures name the key in any case (error-handler.ts).
    const log = request.log as unknown as PinoLike
    if (log.isLevelEnabled('info')) log.setBindings({ keyId: key.id, keyName: key.name })
    limit(request, reply, (limited) => {
      if (limited) return done(limited)
      if (grants(key.scopes, scope)) return done()
      void reply.header(
        'www-authenticate',
        `${REALM}, error="insufficient_scope", scope="${scope}"`,
      )
      done(
        parleyError(
          'PARLEY_ERR_FORBIDDEN',
          `this route needs the scope '${scope}'; the key has ${key.scopes.join(', ')}`,
        ),
      )
    })
  }

  /** No usable key: counted per client IP, then 401 (or 429 past the IP's budget). */
  function refuse(request: FastifyRequest, reply: FastifyReply, done: HookDone, why: string) {
    limit(request, reply, (limited) => {
      if (limited) return done(limited)
      void reply.header('www-authenticate', `${REALM}, error="invalid_token"`)
      done(parleyError('PARLEY_ERR_UNAUTHORIZED', why))
    })
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
