/**
 * An in-memory network plugin for core tests (not a stand-in for a real
 * peer: it tests the host's side of the contract). Behaviour is steered by
 * options; tests reach the live connection through `fakeConnections`.
 */
import { Type } from 'typebox'
import {
  type ConnectionStatus,
  definePlugin,
  type InboundMessage,
  type OutboundMessage,
  type PluginContext,
  PluginError,
  parleyError,
} from '../../../core/contract/index.js'

export interface FakeConnection {
  ctx: PluginContext
  sent: OutboundMessage[]
  statuses: ConnectionStatus[]
  /** Makes the next `n` sends fail, retryable or not. */
  failNext(n: number, retryable: boolean): void
  goOffline(reason: string): void
  goOnline(): void
  receive(from: string, text: string, remoteId: string): Promise<void>
}

export const fakeConnections = new Map<string, FakeConnection>()

export default definePlugin({
  name: 'fake',
  version: '1.0.0',
  contract: '^1.0.0',
  // A federation network to the policy (test configs open it: test/helpers/policy.ts).
  networkKind: 'federation',
  capabilities: {
    im: true,
    presence: 'none',
    subscriptions: false,
    typing: false,
    receipts: false,
    audioVideo: false,
    groupChat: false,
  },
  configSchema: Type.Object(
    {
      key: Type.String({ minLength: 1 }),
      account: Type.String({ default: 'bot@fake.test' }),
      throwOnStart: Type.Boolean({ default: false }),
      password: Type.Optional(Type.String()),
      /** Never used: here so tests can check a TLS private key option is redacted. */
      tls: Type.Optional(
        Type.Object({ cert: Type.String(), key: Type.String() }, { additionalProperties: false }),
      ),
    },
    { additionalProperties: false },
  ),
  secrets: ['password'],
  normalizeId(id) {
    if (!/^[^@\s]+@[^@\s]+$/.test(id))
      throw parleyError('PARLEY_ERR_ADDRESS_INVALID', id, 'expected user@domain')
    return id.toLowerCase()
  },
  create(ctx, config) {
    // As a careless plugin might: the host's log redaction must catch the secrets.
    ctx.log.debug({ options: config }, 'fake network created')
    let online = false
    let failures = 0
    let failRetryable = true
    const me = `fake:${config.account}`
    const report = (status: ConnectionStatus) => {
      connection.statuses.push(status)
      ctx.reportStatus(status)
    }
    const connection: FakeConnection = {
      ctx,
      sent: [],
      statuses: [],
      failNext(n, retryable) {
        failures = n
        failRetryable = retryable
      },
      goOffline(reason) {
        online = false
        report({ state: 'offline', reason, retryable: true })
      },
      goOnline() {
        online = true
        report({ state: 'online' })
      },
      receive(from, text, remoteId) {
        const event: InboundMessage = {
          type: 'message',
          from: `fake:${from}`,
          to: me,
          text,
          remoteId,
        }
        return ctx.emit(event)
      },
    }
    fakeConnections.set(config.key, connection)
    return {
      /** For the network's own routes (below): the test's handle on this connection. */
      fake: connection,
      async start() {
        report({ state: 'connecting' })
        if (config.throwOnStart) throw new Error('the fake network refuses to start')
        connection.goOnline()
      },
      async stop() {
        if (online) {
          online = false
          report({ state: 'offline', reason: 'stopped' })
        }
      },
      identities: () => [me],
      async send(message) {
        if (!online)
          throw new PluginError('PARLEY_ERR_NOT_CONNECTED', 'fake is offline', { retryable: true })
        if (failures > 0) {
          failures--
          throw new PluginError(
            failRetryable ? 'PARLEY_ERR_SEND_FAILED' : 'PARLEY_ERR_REMOTE_REFUSED',
            'the fake network said no',
            { retryable: failRetryable },
          )
        }
        connection.sent.push(message)
        return { remoteId: `fake-${message.id}` }
      },
    }
  },
  // A network's own routes, under /v1/networks/fake/: one declares its scope, one does not (admin).
  routes(app, connection) {
    // What the connection sent: after a lease change, the connection in use now.
    app.get('/sent', async () => ({
      ok: true,
      sent: (connection as unknown as { fake: FakeConnection }).fake.sent.length,
    }))
    app.get('/online', { config: { scope: 'presence:read' } }, async () => ({ ok: true }))
  },
})
