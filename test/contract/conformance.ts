/**
 * The plugin conformance suite: what every network plugin must do, checked
 * against a real peer. A plugin's test file calls `runConformance(t, target)`
 * with a way to load it, configs for its peer, and the peer-side actions the
 * suite cannot do by itself (send a message, throw garbage at the plugin).
 *
 *   test/contract/xmpp.test.ts   -> plugins/xmpp against Prosody
 *
 * Checks: manifest (name, version, contract range, capabilities, config
 * schema, secrets), capability flags agree with the methods, identities,
 * normalizeId, start/stop idempotence and status transitions, send results
 * and PluginErrors, inbound events well-formed, wire garbage and a failing
 * host never break the connection, unreachable peer and bad credentials.
 */
import semver from 'semver'
import type { Test } from 'tap'
import { Value } from 'typebox/value'
import {
  type AddressString,
  type Capabilities,
  CONNECTION_STATES,
  CONTRACT_VERSION,
  type Connection,
  type ConnectionStatus,
  INBOUND_TYPES,
  type InboundEvent,
  NETWORK_NAME,
  type PluginDefinition,
  PluginError,
  parseAddress,
} from '../../core/contract/index.js'
import { createPluginContext, type FakePluginContext } from '../helpers/plugin-context.js'

export interface ConformanceTarget {
  /** The plugin's folder name (also its network name). */
  name: string
  loadPlugin(): Promise<PluginDefinition>
  /**
   * A valid config for a reachable account on a live peer. Called for every
   * connection the suite opens; where the network allows one session per
   * login (an XMPP resource), give each call its own.
   */
  makeConfig(): Promise<Record<string, unknown>>
  /** An address (`network:id`) on the peer that accepts messages. */
  sendTo: AddressString
  /** A config pointing at a peer that is down (nothing listens). */
  makeUnreachableConfig(): Promise<Record<string, unknown>>
  /** A config whose credentials the peer refuses. */
  makeBadCredentialsConfig(): Promise<Record<string, unknown>>
  /** From the peer side, sends `text` to `identity` (one of the plugin's identities) as a normal message. */
  sendFromPeer(identity: AddressString, text: string): Promise<void>
  /** From the peer side, throws malformed, unknown and hostile input at `identity`. */
  injectGarbage(identity: AddressString): Promise<void>
  /** Network-specific checks once the garbage was handled (e.g. what was logged). */
  afterGarbage?(t: Test, ctx: FakePluginContext): Promise<void> | void
  /** Ids normalizeId must map (`[input, normal form]`) and ids it must reject. */
  ids: { valid: Array<[string, string]>; invalid: string[] }
  /** A retried send (same Parley message id) returns the same remoteId. @defaultValue true */
  stableRemoteId?: boolean
  /** How long to wait for an inbound event or a status. @defaultValue 5000 */
  timeoutMs?: number
}

const CAPABILITY_KEYS: Array<keyof Capabilities> = [
  'im',
  'presence',
  'subscriptions',
  'typing',
  'receipts',
  'audioVideo',
  'groupChat',
]
const SUBSCRIPTION_METHODS = ['subscribe', 'unsubscribe', 'approve', 'refuse'] as const

export async function runConformance(t: Test, target: ConformanceTarget): Promise<void> {
  const timeoutMs = target.timeoutMs ?? 5000
  const definition = await target.loadPlugin()
  let messageSeq = 0
  const messageId = () => `conformance-${process.pid}-${Date.now()}-${++messageSeq}`

  /** A connection with a recording context; stopped at the end of the test. */
  async function open(t: Test, config?: Record<string, unknown>) {
    const ctx = createPluginContext()
    const conn = definition.create(ctx, config ?? (await target.makeConfig()))
    t.teardown(() => conn.stop())
    return { ctx, conn, identity: conn.identities()[0] as AddressString }
  }

  function checkStatuses(t: Test, statuses: ConnectionStatus[]) {
    for (const status of statuses) {
      t.ok(
        (CONNECTION_STATES as readonly string[]).includes(status.state),
        `known state '${status.state}'`,
      )
      if (status.state === 'failed')
        t.equal(status.retryable, false, 'failed means retryable: false')
      if (status.state !== 'online' && status.state !== 'connecting') {
        t.ok(
          typeof status.reason === 'string' && status.reason.length > 0,
          `'${status.state}' carries a reason`,
        )
      }
    }
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

  t.test('manifest is valid', async (t) => {
    t.ok(NETWORK_NAME.test(definition.name), `name '${definition.name}' matches ${NETWORK_NAME}`)
    t.equal(definition.name, target.name, 'name is the folder name')
    t.match(definition.version, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, 'version is semver')
    t.ok(
      semver.satisfies(CONTRACT_VERSION, definition.contract),
      `contract '${definition.contract}' accepts ${CONTRACT_VERSION}`,
    )
    t.ok(Object.isFrozen(definition), 'built with definePlugin (frozen)')
    t.same(
      Object.keys(definition.capabilities).sort(),
      [...CAPABILITY_KEYS].sort(),
      'exactly the capability flags',
    )
    for (const key of CAPABILITY_KEYS) {
      if (key === 'presence')
        t.ok(['push', 'poll', 'none'].includes(definition.capabilities.presence), 'presence mode')
      else t.type(definition.capabilities[key], 'boolean', `${key} is a boolean`)
    }
    const schema = definition.configSchema as {
      type?: unknown
      properties?: Record<string, unknown>
    }
    t.equal(schema.type, 'object', 'configSchema is an object schema')
    t.type(schema.properties, 'object', 'configSchema has properties')
    for (const secret of definition.secrets ?? []) {
      t.ok(schema.properties && secret in schema.properties, `secret '${secret}' is an option`)
    }
    t.type(definition.normalizeId, 'function')
    t.type(definition.create, 'function')
  })

  t.test('configs given to the suite validate against configSchema', async (t) => {
    for (const [label, make] of [
      ['makeConfig', target.makeConfig],
      ['makeUnreachableConfig', target.makeUnreachableConfig],
      ['makeBadCredentialsConfig', target.makeBadCredentialsConfig],
    ] as const) {
      const config = Value.Default(definition.configSchema, structuredClone(await make()))
      const errors = [...Value.Errors(definition.configSchema, config)].map(
        (e) => `${e.instancePath} ${e.message}`,
      )
      t.same(errors, [], `${label}() is valid`)
    }
    t.notOk(Value.Check(definition.configSchema, 42), 'a non-object config is rejected')
  })

  t.test(
    'normalizeId accepts and normalises ids, and rejects bad ones with PARLEY_ERR_ADDRESS_INVALID',
    async (t) => {
      for (const [input, normal] of target.ids.valid) {
        t.equal(definition.normalizeId(input), normal, `${input} -> ${normal}`)
        t.equal(definition.normalizeId(normal), normal, `${normal} is stable`)
      }
      for (const input of [...target.ids.invalid, '', 'has space', 'ctl\u0001char']) {
        t.throws(
          () => definition.normalizeId(input),
          { code: 'PARLEY_ERR_ADDRESS_INVALID' },
          JSON.stringify(input),
        )
      }
      const sendTo = parseAddress(target.sendTo)
      t.equal(sendTo.network, definition.name, 'sendTo is an address of this network')
      t.equal(definition.normalizeId(sendTo.id), sendTo.id, 'sendTo is in normal form')
    },
  )

  t.test('capability flags agree with the methods present', async (t) => {
    const { conn } = await open(t)
    const has = (method: keyof Connection) => typeof conn[method] === 'function'
    for (const method of ['start', 'stop', 'send', 'identities'] as const)
      t.ok(has(method), `${method}() exists`)
    const caps = definition.capabilities
    for (const method of SUBSCRIPTION_METHODS) {
      t.equal(
        has(method),
        caps.subscriptions,
        `${method}() exists iff subscriptions: ${caps.subscriptions}`,
      )
    }
    t.equal(
      has('setPresence'),
      caps.presence !== 'none',
      `setPresence() exists iff presence is not 'none'`,
    )
    if (has('probe')) t.not(caps.presence, 'none', 'probe() only with presence')
  })

  t.test(
    'identities are addresses of this network, in normal form, known before start',
    async (t) => {
      const { conn } = await open(t)
      const identities = conn.identities()
      t.ok(Array.isArray(identities) && identities.length > 0, 'at least one identity')
      for (const identity of identities) {
        const address = parseAddress(identity)
        t.equal(address.network, definition.name, `${identity} is on ${definition.name}`)
        t.equal(definition.normalizeId(address.id), address.id, `${identity} is normalised`)
      }
    },
  )

  t.test(
    'stop before start, twice and concurrently resolves and reports no connection',
    async (t) => {
      const { ctx, conn } = await open(t)
      await conn.stop()
      await conn.stop()
      await Promise.all([conn.stop(), conn.stop()])
      t.notOk(
        ctx.statuses.some((s) => s.state === 'online' || s.state === 'connecting'),
        'no connecting/online reported',
      )
      checkStatuses(t, ctx.statuses)
    },
  )

  t.test('send before start throws a retryable PluginError', async (t) => {
    const { conn, identity } = await open(t)
    const error = await conn
      .send({ id: messageId(), from: identity, to: target.sendTo, text: 'too early' })
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    t.ok(PluginError.is(error), 'a PluginError')
    t.equal(
      (error as PluginError | undefined)?.retryable,
      true,
      'retryable: the worker tries again later',
    )
  })

  t.test('start reports connecting then online; start again is a no-op', async (t) => {
    const { ctx, conn } = await open(t)
    await conn.start()
    const states = ctx.statuses.map((s) => s.state)
    t.equal(states[0], 'connecting', 'connecting first')
    t.equal(states.at(-1), 'online', 'online when start resolves')
    await conn.start()
    t.equal(ctx.statuses.length, states.length, 'nothing new from a second start')
    checkStatuses(t, ctx.statuses)
  })

  t.test(
    'send returns a non-empty remoteId; a retry of the same message returns the same one',
    async (t) => {
      const { conn, identity } = await open(t)
      await conn.start()
      const id = messageId()
      const first = await conn.send({
        id,
        from: identity,
        to: target.sendTo,
        text: 'conformance: hello',
      })
      t.type(first.remoteId, 'string')
      t.ok(first.remoteId.length > 0, 'non-empty')
      const other = await conn.send({
        id: messageId(),
        from: identity,
        to: target.sendTo,
        text: 'conformance: other',
      })
      t.not(other.remoteId, first.remoteId, 'different messages, different remote ids')
      if (target.stableRemoteId ?? true) {
        const retry = await conn.send({
          id,
          from: identity,
          to: target.sendTo,
          text: 'conformance: hello',
        })
        t.equal(retry.remoteId, first.remoteId, 'same Parley id, same remote id')
      }
    },
  )

  t.test(
    'send to a bad address or from a foreign identity throws a non-retryable PluginError',
    async (t) => {
      const { conn, identity } = await open(t)
      await conn.start()
      const attempts: Array<[string, () => Promise<unknown>]> = [
        [
          'address of another network',
          () =>
            conn.send({
              id: messageId(),
              from: identity,
              to: `not-${definition.name}:x@y.test`,
              text: 'x',
            }),
        ],
        ...target.ids.invalid.slice(0, 2).map(
          (bad) =>
            [
              `malformed id ${JSON.stringify(bad)}`,
              () =>
                conn.send({
                  id: messageId(),
                  from: identity,
                  to: `${definition.name}:${bad}`,
                  text: 'x',
                }),
            ] as [string, () => Promise<unknown>],
        ),
        [
          'foreign identity',
          () => conn.send({ id: messageId(), from: target.sendTo, to: target.sendTo, text: 'x' }),
        ],
      ]
      for (const [label, attempt] of attempts) {
        const error = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        )
        t.ok(PluginError.is(error), `${label}: a PluginError`)
        t.equal((error as PluginError | undefined)?.retryable, false, `${label}: not retryable`)
      }
    },
  )

  t.test('an inbound message arrives as one well-formed event', async (t) => {
    const { ctx, conn, identity } = await open(t)
    await conn.start()
    const text = `conformance inbound ${messageId()}`
    await target.sendFromPeer(identity, text)
    const event = await ctx.waitForEvent((e) => e.type === 'message' && e.text === text, {
      timeoutMs,
    })
    t.same(eventProblems(event, definition.name, conn.identities()), [], 'well-formed')
    t.equal(event.to, identity, 'addressed to the identity')
    await sleep(100)
    t.equal(
      ctx.events.filter((e) => e.type === 'message' && e.text === text).length,
      1,
      'exactly once',
    )
  })

  t.test(
    'garbage from the wire never throws out of the plugin; the connection stays usable',
    async (t) => {
      const { ctx, conn, identity } = await open(t)
      await conn.start()
      const uncaught: unknown[] = []
      const record = (err: unknown) => uncaught.push(err)
      process.on('uncaughtException', record)
      process.on('unhandledRejection', record)
      t.teardown(() => {
        process.off('uncaughtException', record)
        process.off('unhandledRejection', record)
      })
      const mark = ctx.mark()
      await target.injectGarbage(identity)
      const text = `conformance after garbage ${messageId()}`
      await target.sendFromPeer(identity, text)
      await ctx.waitForEvent((e) => e.type === 'message' && e.text === text, {
        timeoutMs,
        since: mark.events,
      })
      t.same(uncaught, [], 'no uncaught exception or unhandled rejection')
      t.same(
        ctx.statuses.slice(mark.statuses).map((s) => s.state),
        [],
        'no status change: still online',
      )
      for (const event of ctx.emitted.slice(mark.events)) {
        t.same(
          eventProblems(event, definition.name, conn.identities()),
          [],
          `${event.type} event well-formed`,
        )
      }
      const after = await conn.send({
        id: messageId(),
        from: identity,
        to: target.sendTo,
        text: 'still working',
      })
      t.ok(after.remoteId, 'send still works')
      await target.afterGarbage?.(t, ctx)
    },
  )

  t.test('a host that cannot take an event does not break the connection', async (t) => {
    const { ctx, conn, identity } = await open(t)
    let refuse = true
    ctx.onEmit = (event) => {
      if (refuse && event.type === 'message') {
        refuse = false
        throw Object.assign(new Error('queue down'), { retryable: true })
      }
    }
    await conn.start()
    const refused = `conformance refused ${messageId()}`
    await target.sendFromPeer(identity, refused)
    await ctx.until(() => ctx.emitted.some((e) => e.type === 'message' && e.text === refused), {
      timeoutMs,
    })
    const accepted = `conformance accepted ${messageId()}`
    await target.sendFromPeer(identity, accepted)
    await ctx.waitForEvent((e) => e.type === 'message' && e.text === accepted, { timeoutMs })
    t.equal(ctx.statuses.at(-1)?.state, 'online', 'still online')
  })

  t.test(
    'stop reports offline, then send throws retryable; stop again is quiet; start again works',
    async (t) => {
      const { ctx, conn, identity } = await open(t)
      await conn.start()
      await conn.stop()
      t.equal(ctx.statuses.at(-1)?.state, 'offline', 'offline after stop')
      const count = ctx.statuses.length
      const error = await conn
        .send({ id: messageId(), from: identity, to: target.sendTo, text: 'x' })
        .then(
          () => undefined,
          (e: unknown) => e,
        )
      t.ok(PluginError.is(error) && error.retryable, 'send after stop: retryable PluginError')
      await conn.stop()
      t.equal(ctx.statuses.length, count, 'a second stop reports nothing')
      await conn.start()
      t.equal(ctx.statuses.at(-1)?.state, 'online', 'online again')
      await conn.stop()
      checkStatuses(t, ctx.statuses)
    },
  )

  t.test(
    'an unreachable peer: start rejects retryable, the plugin keeps trying until stopped',
    async (t) => {
      const { ctx, conn } = await open(t, await target.makeUnreachableConfig())
      const error = await conn.start().then(
        () => undefined,
        (e: unknown) => e,
      )
      t.ok(PluginError.is(error), 'a PluginError')
      t.equal((error as PluginError | undefined)?.retryable, true, 'retryable')
      t.equal(ctx.statuses[0]?.state, 'connecting')
      const offline = ctx.statuses.find((s) => s.state === 'offline')
      t.match(offline, { retryable: true }, 'offline, retryable')
      await ctx.waitForStatus((s) => s.state === 'connecting', { since: 1, timeoutMs })
      await conn.stop()
      const count = ctx.statuses.length
      await sleep(500)
      t.equal(ctx.statuses.length, count, 'no attempts after stop')
      checkStatuses(t, ctx.statuses)
    },
  )

  t.test(
    'bad credentials: start rejects non-retryable, status failed, no retry loop',
    async (t) => {
      const { ctx, conn } = await open(t, await target.makeBadCredentialsConfig())
      const error = await conn.start().then(
        () => undefined,
        (e: unknown) => e,
      )
      t.ok(PluginError.is(error), 'a PluginError')
      t.equal((error as PluginError | undefined)?.retryable, false, 'not retryable')
      t.match(
        ctx.statuses.at(-1),
        { state: 'failed', retryable: false },
        'failed, retryable: false',
      )
      const count = ctx.statuses.length
      await sleep(500)
      t.equal(ctx.statuses.length, count, 'no reconnect loop')
      checkStatuses(t, ctx.statuses)
    },
  )
}

/** What is wrong with an inbound event ([] when nothing). */
export function eventProblems(
  event: InboundEvent,
  network: string,
  identities: AddressString[],
): string[] {
  const problems: string[] = []
  if (!(INBOUND_TYPES as readonly string[]).includes(event.type))
    problems.push(`unknown type '${event.type}'`)
  for (const field of ['from', 'to'] as const) {
    try {
      const address = parseAddress(event[field])
      if (address.network !== network) problems.push(`${field} is on '${address.network}'`)
    } catch {
      problems.push(`${field} is not an address: ${String(event[field])}`)
    }
  }
  if (!identities.includes(event.to)) problems.push(`to '${event.to}' is not one of the identities`)
  if (typeof event.remoteId !== 'string' || event.remoteId.length === 0)
    problems.push('empty remoteId')
  if (event.at !== undefined && Number.isNaN(Date.parse(event.at)))
    problems.push(`bad timestamp '${event.at}'`)
  switch (event.type) {
    case 'message':
      if (typeof event.text !== 'string') problems.push('message without text')
      break
    case 'presence':
      if (
        !['available', 'away', 'busy', 'dnd', 'offline', 'unknown'].includes(event.availability)
      ) {
        problems.push(`availability '${event.availability}'`)
      }
      break
    case 'subscription':
      if (!['request', 'approved', 'refused', 'removed'].includes(event.action))
        problems.push(`action '${event.action}'`)
      break
    case 'typing':
      if (!['active', 'composing', 'paused', 'inactive', 'gone'].includes(event.state)) {
        problems.push(`typing state '${event.state}'`)
      }
      break
    case 'receipt':
      if (!event.receiptFor) problems.push('receipt without receiptFor')
      if (!['delivered', 'displayed'].includes(event.status))
        problems.push(`receipt status '${event.status}'`)
      break
  }
  return problems
}
