import type { ParleyConfigInput } from './schema.js'

/** Typed identity helper for fastify.config.ts. Validation happens in loadConfig(). */
export function defineConfig(config: ParleyConfigInput): ParleyConfigInput {
  return config
}

export type { ParleyConfig, ParleyConfigInput } from './schema.js'
