import type { DataSource } from 'typeorm'
import { parleyError } from '../contract/errors.js'
import { CompiledStatement } from './compiled-statement.js'
import {
  isoNow,
  MESSAGE_STATUSES,
  type MessageDirection,
  MessageRecord,
  type MessageStatus,
} from './entities/index.js'
import { createExecutor, type StatementExecutor } from './group-commit.js'
import { selectColumns } from './select-columns.js'
import {
  optionalString,
  requireOneOf,
  requireString,
  requireText,
  requireUuid,
} from './validate-input.js'

export interface NewOutbound {
  /** Parley's message id: a UUID made by the caller, stable across retries. */
  id: string
  network: string
  from: string
  to: string
  text: string
  replyTo?: string | null
  bot?: string | null
  /** E.g. derived from the bot activity id; a second call with the same key returns the first record. */
  dedupKey?: string | null
}

export interface NewInbound {
  id: string
  network: string
  /** Derived from network + sender + the network's id: a redelivery carries the same key. */
  dedupKey: string
  from: string
  to: string
  text: string
  remoteId: string
}

export interface CreateResult {
  record: MessageRecord
  /** false: the message was already recorded (same dedupKey or id); `record` is that earlier one. */
  created: boolean
}

export interface ListMessagesOptions {
  status?: MessageStatus
  direction?: MessageDirection
  network?: string
  /** Only records whose last error starts with this text. */
  errorPrefix?: string
  /** @defaultValue 50 (at most 1000) */
  limit?: number
}

/**
 * Message records. Every method is one or two statements (no read before
 * write), because they run for every message. A `mark*` call resolves true
 * when it changed the record and false when the record is in a state the
 * change does not apply to (e.g. `markSent` on a message already `sent`,
 * which a redelivered job may do); it rejects with
 * PARLEY_ERR_MESSAGE_NOT_FOUND when there is no such message.
 */
export interface MessageStore {
  createOutbound(input: NewOutbound): Promise<CreateResult>
  recordInbound(input: NewInbound): Promise<CreateResult>
  get(id: string): Promise<MessageRecord | undefined>
  /** queued|failed -> sent, outbound only. */
  markSent(id: string, update: { remoteId: string; attempts: number }): Promise<boolean>
  /** sent -> delivered (a receipt came back), outbound only. */
  markDelivered(id: string): Promise<boolean>
  /** queued|received|failed -> failed, either direction; a repeat refreshes error and attempts. */
  markFailed(id: string, update: { error: string; attempts: number }): Promise<boolean>
  /** queued|failed -> queued with the attempt's error noted (a retry is coming), outbound only. */
  markAttempt(id: string, update: { attempts: number; error: string }): Promise<boolean>
  /** received|failed -> handled, inbound only. */
  markHandled(id: string): Promise<boolean>
  /** Newest first. */
  list(options?: ListMessagesOptions): Promise<MessageRecord[]>
}

const ADDRESS_MAX = 1024
const NETWORK_MAX = 32
const KEY_MAX = 255
const BOT_MAX = 64
const LIST_MAX = 1000

interface Transition {
  to: MessageStatus
  from: readonly MessageStatus[]
  direction?: MessageDirection
}

const TRANSITIONS = {
  sent: { to: 'sent', from: ['queued', 'failed'], direction: 'out' },
  delivered: { to: 'delivered', from: ['sent'], direction: 'out' },
  failed: { to: 'failed', from: ['queued', 'received', 'failed'] },
  attempt: { to: 'queued', from: ['queued', 'failed'], direction: 'out' },
  handled: { to: 'handled', from: ['received', 'failed'], direction: 'in' },
} as const satisfies Record<string, Transition>

function requireAttempts(value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw parleyError('PARLEY_ERR_VALIDATION', 'attempts must be a non-negative integer')
  }
  return value as number
}

const MESSAGE_COLUMNS = [
  'id',
  'direction',
  'network',
  'dedupKey',
  'from',
  'to',
  'text',
  'status',
  'attempts',
  'remoteId',
  'replyTo',
  'error',
  'bot',
  'createdAt',
  'updatedAt',
] as const satisfies readonly (keyof MessageRecord)[]

type TransitionName = keyof typeof TRANSITIONS
type TransitionParam = 'id' | 'updatedAt' | 'remoteId' | 'attempts' | 'error'

/** Which columns each transition writes besides status and updatedAt. */
const TRANSITION_SETS: Record<TransitionName, readonly ('remoteId' | 'attempts' | 'error')[]> = {
  sent: ['remoteId', 'attempts'],
  delivered: [],
  failed: ['error', 'attempts'],
  attempt: ['error', 'attempts'],
  handled: [],
}

/** The hot statements, generated once per DataSource by the query builder. */
function compileStatements(ds: DataSource) {
  const insert = new CompiledStatement(MESSAGE_COLUMNS, (param) =>
    ds
      .createQueryBuilder()
      .insert()
      .into(MessageRecord)
      .values(Object.fromEntries(MESSAGE_COLUMNS.map((c) => [c, param(c)])))
      // No conflict target: a repeated id or dedup key both mean "already recorded".
      .orIgnore()
      .updateEntity(false)
      .callListeners(false),
  )
  const byId = new CompiledStatement(['id'], (param) =>
    selectColumns(ds, MessageRecord, 'm').where('m.id = :id', { id: param('id') }),
  )
  const byDedupKey = new CompiledStatement(['dedupKey'], (param) =>
    selectColumns(ds, MessageRecord, 'm').where('m.dedupKey = :key', { key: param('dedupKey') }),
  )
  const transitions = Object.fromEntries(
    (Object.keys(TRANSITIONS) as TransitionName[]).map((name) => {
      const change: Transition = TRANSITIONS[name]
      const sets = TRANSITION_SETS[name]
      const statement = new CompiledStatement<TransitionParam>(
        ['id', 'updatedAt', ...sets],
        (param) => {
          const qb = ds
            .createQueryBuilder()
            .update(MessageRecord)
            .set({
              ...Object.fromEntries(sets.map((c) => [c, param(c)])),
              status: change.to,
              updatedAt: param('updatedAt'),
            })
            .where('id = :id', { id: param('id') })
            .andWhere('status IN (:...from)', { from: change.from })
          if (change.direction)
            qb.andWhere('direction = :direction', { direction: change.direction })
          return qb.updateEntity(false).callListeners(false)
        },
      )
      return [name, statement]
    }),
  ) as Record<TransitionName, CompiledStatement<TransitionParam>>
  return { insert, byId, byDedupKey, transitions }
}

/**
 * The message store on `ds`. The hot statements run on `executor` (prepared
 * once on the driver's own connection, writes issued together committed
 * together); close the executor before destroying `ds` so queued writes land.
 */
export function createMessageStore(
  ds: DataSource,
  executor: StatementExecutor = createExecutor(ds),
): MessageStore {
  const statements = compileStatements(ds)

  function read<P extends string>(
    statement: CompiledStatement<P>,
    values: Record<P, unknown>,
  ): Promise<MessageRecord[]> {
    return executor.read<MessageRecord>(statement.sql, statement.parameters(values))
  }

  function write<P extends string>(
    statement: CompiledStatement<P>,
    values: Record<P, unknown>,
  ): Promise<number> {
    return executor.write(statement.sql, statement.parameters(values))
  }

  async function get(id: string): Promise<MessageRecord | undefined> {
    const [row] = await read(statements.byId, { id })
    return row
  }

  /** The record a conflicting insert ran into: by dedup key first, else by id. */
  async function existing(row: MessageRecord): Promise<MessageRecord> {
    const [byKey] =
      row.dedupKey === null ? [] : await read(statements.byDedupKey, { dedupKey: row.dedupKey })
    const found = byKey ?? (await get(row.id))
    if (!found) {
      throw parleyError(
        'PARLEY_ERR_INTERNAL',
        `message ${row.id} conflicted on insert but cannot be found`,
      )
    }
    return found
  }

  async function insert(row: MessageRecord): Promise<CreateResult> {
    // Created: the record is what was inserted, no need to read it back.
    if ((await write(statements.insert, row)) === 1) return { record: row, created: true }
    return { record: await existing(row), created: false }
  }

  async function transition(
    id: string,
    name: TransitionName,
    set: Partial<Record<'remoteId' | 'attempts' | 'error', unknown>> = {},
  ): Promise<boolean> {
    const values = { id, updatedAt: isoNow(), remoteId: null, attempts: null, error: null, ...set }
    if ((await write(statements.transitions[name], values)) === 1) return true
    // Cold path: tell "no such message" from "not in a state this applies to".
    if (!(await get(id))) throw parleyError('PARLEY_ERR_MESSAGE_NOT_FOUND', id)
    return false
  }

  return {
    async createOutbound(input) {
      const now = isoNow()
      return insert({
        id: requireUuid('id', input.id),
        direction: 'out',
        network: requireString('network', input.network, NETWORK_MAX),
        dedupKey: optionalString('dedupKey', input.dedupKey, KEY_MAX),
        from: requireString('from', input.from, ADDRESS_MAX),
        to: requireString('to', input.to, ADDRESS_MAX),
        text: requireText('text', input.text),
        status: 'queued',
        attempts: 0,
        remoteId: null,
        replyTo: optionalString('replyTo', input.replyTo, ADDRESS_MAX),
        error: null,
        bot: optionalString('bot', input.bot, BOT_MAX),
        createdAt: now,
        updatedAt: now,
      })
    },

    async recordInbound(input) {
      const now = isoNow()
      return insert({
        id: requireUuid('id', input.id),
        direction: 'in',
        network: requireString('network', input.network, NETWORK_MAX),
        dedupKey: requireString('dedupKey', input.dedupKey, KEY_MAX),
        from: requireString('from', input.from, ADDRESS_MAX),
        to: requireString('to', input.to, ADDRESS_MAX),
        text: requireText('text', input.text),
        status: 'received',
        attempts: 0,
        remoteId: requireString('remoteId', input.remoteId, ADDRESS_MAX),
        replyTo: null,
        error: null,
        bot: null,
        createdAt: now,
        updatedAt: now,
      })
    },

    get,

    async markSent(id, { remoteId, attempts }) {
      return transition(id, 'sent', {
        remoteId: requireString('remoteId', remoteId, ADDRESS_MAX),
        attempts: requireAttempts(attempts),
      })
    },

    async markDelivered(id) {
      return transition(id, 'delivered')
    },

    async markFailed(id, { error, attempts }) {
      return transition(id, 'failed', {
        error: requireText('error', error),
        attempts: requireAttempts(attempts),
      })
    },

    async markAttempt(id, { attempts, error }) {
      return transition(id, 'attempt', {
        error: requireText('error', error),
        attempts: requireAttempts(attempts),
      })
    },

    async markHandled(id) {
      return transition(id, 'handled')
    },

    async list(options = {}) {
      const limit = options.limit ?? 50
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIST_MAX) {
        throw parleyError('PARLEY_ERR_VALIDATION', `limit must be an integer from 1 to ${LIST_MAX}`)
      }
      const qb = selectColumns(ds, MessageRecord, 'm')
      if (options.status !== undefined) {
        qb.andWhere('m.status = :status', {
          status: requireOneOf('status', options.status, MESSAGE_STATUSES),
        })
      }
      if (options.direction !== undefined) {
        qb.andWhere('m.direction = :direction', {
          direction: requireOneOf('direction', options.direction, ['in', 'out'] as const),
        })
      }
      if (options.network !== undefined)
        qb.andWhere('m.network = :network', { network: options.network })
      if (options.errorPrefix !== undefined) {
        const literal = options.errorPrefix.replace(/[\\%_]/g, (c) => `\\${c}`)
        qb.andWhere("m.error LIKE :prefix ESCAPE '\\'", { prefix: `${literal}%` })
      }
      return qb
        .orderBy('m.createdAt', 'DESC')
        .addOrderBy('m.id', 'DESC')
        .limit(limit)
        .getRawMany<MessageRecord>()
    },
  }
}
