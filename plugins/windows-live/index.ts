/**
 * Windows Live (MSN) as Lync Server 2013 federated with it: IM, presence and
 * audio/video call set-up over the `sip` edge through
 * `federation.messenger.msn.com`. Parley carries no media: an audio/video
 * INVITE is refused (488) and logged. Windows Live users of other domains
 * are written `user(domain)@msn.com` (see plugins/sip/sip-uri.ts).
 */
import {
  defineProfile,
  edgeOptions,
  providerCapabilities,
  providerOptions,
} from '../../core/contract/index.js'

/** msn.com first: it is the domain other users are decorated into. */
const DOMAINS = ['msn.com', 'hotmail.com', 'live.com']

export default defineProfile({
  name: 'windows-live',
  version: '0.1.0',
  contract: '^1.1.0',
  base: 'sip',
  provider: {
    displayName: 'Windows Live',
    domains: DOMAINS,
    proxyFqdn: 'federation.messenger.msn.com',
    verificationLevel: 'AlwaysVerifiable',
  },
  capabilities: providerCapabilities(true),
  configSchema: providerOptions({
    proxyHost: 'federation.messenger.msn.com',
    proxyPort: 5061,
    transport: 'tls',
  }),
  baseOptions: (o, network) =>
    edgeOptions(o, network, DOMAINS, {
      callRefusal: 488,
      // The call reaches the bot as `call.offer` (Parley answers the signalling only).
      callEvents: true,
      // Users of other domains are `user(domain)@msn.com` on the wire (the first served domain).
      decoration: { domain: (o.domains ?? DOMAINS)[0], native: o.domains ?? DOMAINS },
    }),
})
