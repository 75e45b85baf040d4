/**
 * The `xmpp` network plugin: Parley as an XMPP client (RFC 6120/6121) of one
 * account, through @xmpp/client. See README.md for options and behaviour.
 */
import { definePlugin } from '../../core/contract/index.js'
import { XmppConfig } from './config.js'
import { XmppConnection } from './connection.js'
import { NETWORK, normalizeId } from './wire.js'

export default definePlugin({
  name: NETWORK,
  version: '0.1.0',
  contract: '^1.1.0',
  networkKind: 'xmpp',
  capabilities: {
    im: true,
    presence: 'push',
    subscriptions: true,
    typing: true,
    receipts: true,
    audioVideo: false,
    groupChat: false,
  },
  configSchema: XmppConfig,
  secrets: ['password'],
  normalizeId,
  create: (ctx, config) => new XmppConnection(ctx, config),
})
