/**
 * Yahoo! as Lync Server 2013 federated with it: IM and presence over the
 * `sip` edge. Yahoo! required a per-user PIC licence: only identities listed
 * in `licensed` may reach it (others are refused both ways with
 * PARLEY_ERR_PIC_LICENCE). The service ended on 2014-06-30: this profile
 * starts only with `allowRetired: true`.
 */
import {
  defineProfile,
  edgeOptions,
  providerCapabilities,
  providerOptions,
} from '../../core/contract/index.js'

const DOMAINS = ['yahoo.com']

export default defineProfile({
  name: 'yahoo',
  version: '0.1.0',
  contract: '^1.1.0',
  base: 'sip',
  provider: {
    displayName: 'Yahoo!',
    domains: DOMAINS,
    verificationLevel: 'AlwaysVerifiable',
    retired: { on: '2014-06-30', note: 'Yahoo! ended federation with Lync on 2014-06-30' },
  },
  capabilities: providerCapabilities(false),
  // Lync's Yahoo! proxy FQDN: sip.yahoo.com.
  configSchema: providerOptions({ proxyHost: 'sip.yahoo.com', proxyPort: 5061, transport: 'tls' }),
  baseOptions: (o, network) =>
    edgeOptions(o, network, DOMAINS, {
      // The licence is required: no list means no identity is licensed.
      licensed: o.licensed ?? [],
      callRefusal: 415,
    }),
})
