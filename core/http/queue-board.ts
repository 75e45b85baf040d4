/**
 * Bull Board, the BullMQ dashboard, at `/admin/queues` (scope `admin`):
 * the inbound queue, every network's outbound queue and the presence queue,
 * their jobs, and the admin's actions on them (retry, promote, clean).
 *
 * Every route the board adds (its page, its JSON API, its static files)
 * passes through the host's auth hooks like any other route: the key goes in
 * `Authorization: Bearer`, so a browser reaches the board through a proxy
 * that adds the header (docs/metrics.md).
 */
import { createBullBoard } from '@bull-board/api'
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter'
import { FastifyAdapter } from '@bull-board/fastify'
import type { Queue } from 'bullmq'
import type { FastifyInstance } from 'fastify'
import { handleError } from './error-handler.js'

export interface QueueBoardOptions {
  queues: readonly Queue[]
  /** Where the board is mounted (also its pages' base href). */
  basePath: string
}

export async function queueBoard(
  app: FastifyInstance,
  { queues, basePath }: QueueBoardOptions,
): Promise<void> {
  const serverAdapter = new FastifyAdapter()
  serverAdapter.setBasePath(basePath)
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Parley queues' } },
  })
  app.addHook('onRoute', (route) => {
    // The board sets an error handler of its own that would answer the auth
    // refusals (and any failure) in its shape; each route gets the host's back.
    route.errorHandler = handleError
    // Nothing of the board belongs in the host's OpenAPI document.
    route.schema = { ...route.schema, hide: true }
  })
  // Its routes declare no scope, so the auth hooks (attached to every route
  // when it is registered) make them need `admin`, static files included.
  await app.register(serverAdapter.registerPlugin(), { prefix: basePath })
}
