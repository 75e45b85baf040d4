import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'

const requestId = Symbol('parley.requestId')
type Carrying = FastifyBaseLogger & { [requestId]?: string }

/**
 * Each request's logger, without a redaction pass per request. Fastify
 * makes it a pino child bound to `{ reqId }`, and pino runs every binding
 * through the redaction of the `*.` paths (log-redaction.ts, ten of them),
 * which leaves a string id as it is and cost about 1.5 µs a request, a
 * tenth of a presence read (bench/presence). Here the child gets no
 * bindings and carries the id; `requestIdMixin` puts it on each line
 * actually written, where redaction runs as on every other field. Any other
 * binding (a plugin's child logger, `setBindings`) still goes through pino.
 */
export const requestChildLogger: NonNullable<FastifyServerOptions['childLoggerFactory']> =
  function requestChildLogger(logger, bindings, options) {
    const { reqId } = bindings as { reqId?: unknown }
    if (typeof reqId !== 'string' || Object.keys(bindings).length !== 1) {
      return logger.child(bindings, options)
    }
    const child: Carrying = logger.child({}, options)
    child[requestId] = reqId
    return child
  }

/**
 * pino's `mixin`: the request id of the logger writing the line (its
 * children inherit it). A new object each time: pino merges the line into it.
 */
export function requestIdMixin(
  _merge: object,
  _level: number,
  logger: FastifyBaseLogger,
): { reqId?: string } {
  const id = (logger as Carrying)[requestId]
  return id === undefined ? {} : { reqId: id }
}
