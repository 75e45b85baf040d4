/**
 * The `sip` network plugin: Parley's SIP/SIMPLE federation edge (RFC 3261,
 * RFC 3428 MESSAGE, RFC 6665/3856 SUBSCRIBE/NOTIFY, RFC 3863 PIDF with RFC
 * 4480 RPID) on the `sip` package. Addresses are `sip:<SIP URI>`, e.g.
 * `sip:sip:alice@corp.example`. See README.md.
 */
import { definePlugin } from '../../core/contract/index.js'
import { SipConfig } from './config.js'
import { SipConnection } from './connection.js'
import { normalizeSipUri } from './sip-uri.js'

export default definePlugin({
  name: 'sip',
  version: '0.1.0',
  contract: '^1.1.0',
  networkKind: 'federation',
  capabilities: {
    im: true,
    presence: 'push',
    subscriptions: true,
    typing: false,
    receipts: false,
    audioVideo: false,
    groupChat: false,
  },
  configSchema: SipConfig,
  normalizeId: normalizeSipUri,
  create: (ctx, config) => new SipConnection(ctx, config),
})
