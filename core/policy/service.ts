/**
 * The federation policy in force: stored as versions in the database
 * (`store.policies`), seeded from `fastify.config.ts` when none is stored,
 * edited over REST, and kept the same in every host process (a Redis
 * message names each new version; every process then reads it from the
 * database). Decisions use the compiled copy held here (`decide.ts`).
 */
import type { Redis } from 'ioredis'
import { type Logger, parleyError } from '../contract/index.js'
import type { Store } from '../store/store.js'
import { type CompiledPolicy, compilePolicy } from './decide.js'
import { defaultPolicy, type Policy } from './model.js'
import { type Finding, policyError, validatePolicy } from './validate.js'

export interface PolicyServiceOptions {
  store: Pick<Store, 'policies'>
  /** For PUBLISH; any connection in normal (non-subscriber) mode. */
  redis: Redis
  /** Redis key prefix (`config.redis.prefix`). */
  prefix: string
  /** `fastify.config.ts`'s `policy`, validated; undefined: Lync's closed defaults. */
  seed: Policy | undefined
  log: Logger
}

export interface PolicyState {
  version: number
  policy: Policy
  author: string
  summary: string
  updatedAt: string
}

export interface EditResult extends PolicyState {
  warnings: Finding[]
}

/** What an edit does: returns the next policy, or throws a coded error (conflict, not found). */
export type PolicyEdit = (current: Policy) => Policy

/** How often an edit is retried when another process stored a version in between. */
const EDIT_ATTEMPTS = 5

export class PolicyService {
  readonly #opts: PolicyServiceOptions
  readonly #channel: string
  #state: PolicyState | undefined
  #compiled: CompiledPolicy | undefined
  #subscriber: Redis | undefined
  #reloading: Promise<void> | undefined
  #editing: Promise<unknown> = Promise.resolve()
  readonly #listeners = new Set<(state: PolicyState) => void>()

  constructor(options: PolicyServiceOptions) {
    this.#opts = options
    this.#channel = `${options.prefix}:policy:version`
  }

  /** Loads the stored policy (or stores the seed as version 1) and follows other processes' edits. */
  async start(): Promise<void> {
    const { log, seed } = this.#opts
    let stored = await this.#opts.store.policies.current()
    if (!stored) {
      const first = seed ?? defaultPolicy()
      const saved = await this.#opts.store.policies.append(0, first, {
        author: 'config',
        summary: seed
          ? 'seeded from fastify.config.ts'
          : "Lync's closed defaults (no policy in config)",
      })
      // Another process seeded it first: use theirs.
      stored = saved ?? (await this.#opts.store.policies.current())
    } else if (seed && JSON.stringify(seed) !== JSON.stringify(stored.document)) {
      log.warn(
        { version: stored.version, author: stored.author },
        'the stored federation policy is in force; the policy in fastify.config.ts differs and only seeds an empty database (edit it over REST: docs/policy.md)',
      )
    }
    if (!stored) throw parleyError('PARLEY_ERR_INTERNAL', 'the policy could not be stored')
    this.#install(stored.version, this.#checked(stored.document, stored.version), stored)
    await this.#follow()
    log.info({ version: stored.version, author: stored.author }, 'federation policy loaded')
  }

  get state(): PolicyState {
    if (!this.#state) throw parleyError('PARLEY_ERR_INTERNAL', 'the policy is not loaded yet')
    return this.#state
  }

  /** The policy in force, indexed for decisions. */
  get compiled(): CompiledPolicy {
    if (!this.#compiled) throw parleyError('PARLEY_ERR_INTERNAL', 'the policy is not loaded yet')
    return this.#compiled
  }

  /** Called with each new version installed here (own edits and other processes'). */
  onChange(listener: (state: PolicyState) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /**
   * Applies `edit` to the newest stored policy and stores the result as the
   * next version. `expectVersion` refuses the edit (409) unless the stored
   * version is that one (a client's read-modify-write). Refused edits throw
   * PARLEY_ERR_POLICY_CONFLICT (409) or PARLEY_ERR_VALIDATION (400) with
   * every finding; warnings come back with the result.
   */
  edit(
    edit: PolicyEdit,
    meta: { author: string; summary: string; expectVersion?: number },
  ): Promise<EditResult> {
    // One edit at a time in this process; the version check below covers the others.
    const run = this.#editing.then(() => this.#edit(edit, meta))
    this.#editing = run.catch(() => undefined)
    return run
  }

  async #edit(
    edit: PolicyEdit,
    meta: { author: string; summary: string; expectVersion?: number },
  ): Promise<EditResult> {
    for (let attempt = 1; attempt <= EDIT_ATTEMPTS; attempt++) {
      const stored = await this.#opts.store.policies.current()
      const version = stored?.version ?? 0
      if (meta.expectVersion !== undefined && meta.expectVersion !== version) {
        throw parleyError(
          'PARLEY_ERR_POLICY_CONFLICT',
          `the policy is at version ${version}, not ${meta.expectVersion}: read it again and retry`,
        )
      }
      const current = stored ? this.#checked(stored.document, version) : defaultPolicy()
      const next = edit(structuredClone(current))
      const checked = validatePolicy(next)
      if (!checked.ok || !checked.policy) throw policyError(checked)
      const saved = await this.#opts.store.policies.append(version, checked.policy, meta)
      if (!saved) continue // another process stored version+1 in between: re-read
      this.#install(saved.version, checked.policy, saved)
      this.#opts.log.info(
        { version: saved.version, author: meta.author, summary: meta.summary },
        'federation policy changed',
      )
      await this.#opts.redis.publish(this.#channel, String(saved.version)).catch((err: unknown) => {
        // The others catch up at their next reconnect or edit; this one is in force here.
        this.#opts.log.warn({ err }, 'could not announce the new policy version')
      })
      return { ...this.state, warnings: checked.warnings }
    }
    throw parleyError(
      'PARLEY_ERR_POLICY_CONFLICT',
      `the policy kept changing under this edit (${EDIT_ATTEMPTS} attempts): retry`,
    )
  }

  /** Re-reads the stored policy if it is newer than the one in force. */
  async reload(): Promise<void> {
    this.#reloading ??= (async () => {
      try {
        const stored = await this.#opts.store.policies.current()
        if (stored && stored.version > (this.#state?.version ?? 0)) {
          this.#install(stored.version, this.#checked(stored.document, stored.version), stored)
          this.#opts.log.info({ version: stored.version }, 'federation policy reloaded')
        }
      } finally {
        this.#reloading = undefined
      }
    })()
    return this.#reloading
  }

  async close(): Promise<void> {
    const subscriber = this.#subscriber
    this.#subscriber = undefined
    if (subscriber) await subscriber.quit().catch(() => subscriber.disconnect())
  }

  async #follow(): Promise<void> {
    const subscriber = this.#opts.redis.duplicate({ lazyConnect: true })
    this.#subscriber = subscriber
    subscriber.on('error', (err) =>
      this.#opts.log.debug({ err: err.message }, 'policy subscriber connection error'),
    )
    subscriber.on('message', (_channel, message) => {
      if (Number(message) > (this.#state?.version ?? 0)) this.#reloadQuietly()
    })
    // After a reconnect, an announcement may have been missed: catch up.
    subscriber.on('ready', () => this.#reloadQuietly())
    await subscriber.connect()
    await subscriber.subscribe(this.#channel)
  }

  #reloadQuietly(): void {
    this.reload().catch((err: unknown) =>
      this.#opts.log.warn({ err }, 'could not reload the federation policy'),
    )
  }

  /** A stored document, validated again (a hand-edited row must not reach decisions unchecked). */
  #checked(document: unknown, version: number): Policy {
    const checked = validatePolicy(document)
    if (!checked.ok || !checked.policy) {
      const first = checked.errors[0]
      throw parleyError(
        'PARLEY_ERR_CONFIG',
        `stored policy version ${version} is invalid: ${first?.path}: ${first?.message}`,
      )
    }
    return checked.policy
  }

  #install(
    version: number,
    policy: Policy,
    meta: { author: string; summary: string; createdAt: string },
  ) {
    this.#state = {
      version,
      policy,
      author: meta.author,
      summary: meta.summary,
      updatedAt: meta.createdAt,
    }
    this.#compiled = compilePolicy(policy)
    for (const listener of this.#listeners) listener(this.#state)
  }
}
