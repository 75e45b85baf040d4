/**
 * bench/presence baseline: a bare Fastify route with the path of
 * `GET /v1/presence/:address` that serves one JSON body from memory
 * (BENCH_BODY, parsed once; Fastify serialises it per request). No schema,
 * no hooks, no logger. Prints `ready <port>` once it listens.
 */
import Fastify from 'fastify'

const body = JSON.parse(process.env.BENCH_BODY ?? '{}') as Record<string, unknown>
const app = Fastify({ logger: false })
app.get('/v1/presence/:address', async () => body)
const address = await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
console.log(`ready ${new URL(address).port}`)
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)))
