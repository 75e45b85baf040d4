/**
 * AOL (AIM) as Lync Server 2013 federated with it: a public IM provider
 * reached over SIP through the `sip` edge, IM and presence, senders
 * AlwaysVerifiable. The service ended on 2014-06-30: this profile starts
 * only with `allowRetired: true` (a revival network or a lab).
 */
import {
  defineProfile,
  edgeOptions,
  providerCapabilities,
  providerOptions,
} from '../../core/contract/index.js'

const DOMAINS = ['aol.com', 'aim.com']

export default defineProfile({
  name: 'aol',
  version: '0.1.0',
  contract: '^1.1.0',
  base: 'sip',
  provider: {
    displayName: 'AOL',
    domains: DOMAINS,
    verificationLevel: 'AlwaysVerifiable',
    retired: { on: '2014-06-30', note: 'AOL ended federation with Lync on 2014-06-30' },
  },
  capabilities: providerCapabilities(false),
  // AOL's proxy FQDN is configured per deployment (Lync: sip.oscar.aol.com).
  configSchema: providerOptions({
    proxyHost: 'sip.oscar.aol.com',
    proxyPort: 5061,
    transport: 'tls',
  }),
  baseOptions: (o, network) => edgeOptions(o, network, DOMAINS, { callRefusal: 415 }),
})
