import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/** The body of every error response: a stable code clients can switch on. */
export interface ErrorBody {
  statusCode: number
  code: string
  error: string
  message: string
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  409: 'Conflict',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
}

/**
 * One place turns every error into `{ statusCode, code, message }`:
 * schema failures and Fastify's own 4xx (bad JSON, wrong content type, body
 * too large) become PARLEY_ERR_VALIDATION; Parley errors keep their code;
 * anything else is a 500 PARLEY_ERR_INTERNAL whose details stay in the log.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(handleError)
  app.setNotFoundHandler((request, reply) => {
    const body: ErrorBody = {
      statusCode: 404,
      code: 'PARLEY_ERR_NOT_FOUND',
      error: 'Not Found',
      message: `Not found: ${request.method} ${request.url.split('?')[0]}`,
    }
    void reply.status(404).send(body)
  })
}

/**
 * The host's error handler, exported for routes registered inside a plugin
 * that sets its own (the queue board): a route's `errorHandler` option puts
 * this one back, so every refusal still reads `{ statusCode, code, … }`.
 */
export function handleError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  let statusCode = error.statusCode ?? 500
  let code = error.code
  let message = error.message
  if (error.validation) {
    statusCode = 400
    code = 'PARLEY_ERR_VALIDATION'
    message = `Invalid request: ${error.message}`
  } else if (code?.startsWith('PARLEY_ERR_')) {
    // keep it
  } else if (statusCode >= 400 && statusCode < 500) {
    code = 'PARLEY_ERR_VALIDATION'
    message = `Invalid request: ${error.message}`
  } else {
    statusCode = 500
    code = 'PARLEY_ERR_INTERNAL'
    message = 'Internal error; see the host log for the request id'
  }
  const key = (request as { apiKey?: { id: string; name: string } | null }).apiKey
  const who = key ? { keyId: key.id, keyName: key.name } : undefined
  if (statusCode >= 500) request.log.error({ err: error, code, ...who }, 'request failed')
  else request.log.info({ code, message, ...who }, 'request refused')
  const body: ErrorBody = {
    statusCode,
    code: code ?? 'PARLEY_ERR_INTERNAL',
    error: STATUS_TEXT[statusCode] ?? 'Error',
    message,
  }
  void reply.status(statusCode).send(body)
}

export const ErrorResponse = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string', description: 'Stable PARLEY_ERR_* code (docs/errors.md)' },
    error: { type: 'string' },
    message: { type: 'string' },
  },
} as const
