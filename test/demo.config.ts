import { defineConfig } from '../core/config/define-config.js'
import base from '../fastify.config.js'

/** The default configuration, with the demo's own SQLite file and Redis prefix. */
export default defineConfig({
  ...base,
  database: { sqlitePath: process.env.DEMO_SQLITE ?? './data/demo.sqlite' },
  redis: { prefix: process.env.DEMO_PREFIX ?? 'parley-demo' },
})
