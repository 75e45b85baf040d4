import { normalizeIP } from '@fastify/rate-limit'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { parleyError } from '../contract/index.js'

/** A counter store with `@fastify/rate-limit`'s store interface (rate-limit-store.ts): `incr` may call back at once. */
export interface CounterStore {
  incr(
    key: string,
    callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
    timeWindow: number,
    max: number,
  ): void
}

export interface RateLimitOptions {
  store: CounterStore
  /** Requests per window for a verified key. */
  max: number
  /** Requests per window for a client IP without a usable key. */
  unauthenticatedMax: number
  timeWindowMs: number
}

/**
 * Counts one request against its budget: per key id when the request has a
 * verified key, else per client IP (IPv6 by /64), so floods of bad keys are
 * limited too. Answers as `@fastify/rate-limit` did (x-ratelimit-limit,
 * -remaining and -reset on every counted request; past the limit, 429
 * PARLEY_ERR_RATE_LIMITED with Retry-After, the message giving the wait in
 * seconds), but called straight from the auth plugin's route hook,
 * callback-style: the plugin's own hook (async, with an await for the key,
 * the limit and the store each) cost about 2 µs of CPU per request, a tenth
 * of the whole presence read (bench/presence). The store answers far from
 * the limit without a promise, so neither does this.
 */
export function rateLimiter(options: RateLimitOptions) {
  const { store, timeWindowMs } = options
  return function limit(
    request: FastifyRequest,
    reply: FastifyReply,
    done: (error?: Error) => void,
  ): void {
    const key = request.apiKey ? `key:${request.apiKey.id}` : `ip:${normalizeIP(request.ip)}`
    const max = request.apiKey ? options.max : options.unauthenticatedMax
    store.incr(
      key,
      (error, result) => {
        // Redis down: requests pass unlimited (the host is degraded anyway; /health says so).
        const current = error || !result ? 0 : result.current
        const seconds = error || !result ? 0 : Math.ceil(result.ttl / 1000)
        void reply.header('x-ratelimit-limit', max)
        if (current <= max) {
          void reply.header('x-ratelimit-remaining', max - current)
          void reply.header('x-ratelimit-reset', seconds)
          return done()
        }
        request.log.warn({ limit: key }, 'rate limit exceeded')
        void reply.header('x-ratelimit-remaining', 0)
        void reply.header('x-ratelimit-reset', seconds)
        void reply.header('retry-after', seconds)
        done(
          parleyError(
            'PARLEY_ERR_RATE_LIMITED',
            `${max} requests per ${timeWindowMs} ms; retry in ${seconds} s`,
          ),
        )
      },
      timeWindowMs,
      max,
    )
  }
}
