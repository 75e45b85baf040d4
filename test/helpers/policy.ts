import type { Policy } from '../../core/policy/index.js'

/** The XMPP domains the test peers use (Prosody's default VirtualHost first). */
export const TEST_XMPP_DOMAINS = ['parley.test', 'chat.example', 'example.org']

/**
 * A federation policy that lets every test network's traffic through: the
 * edge open (federated users, public providers, partner discovery), every
 * access flag on for everyone, the XMPP test domains as Federated partners,
 * and a provider entry for each profile the tests run. Tests of the policy
 * itself pass their own `policy` (or `defaultPolicy()` for Lync's closed
 * defaults) instead.
 */
export function openPolicy(xmppDomains: string[] = TEST_XMPP_DOMAINS): Policy {
  const [first = 'parley.test', ...rest] = xmppDomains
  return {
    edge: {
      allowFederatedUsers: true,
      allowPublicProviders: true,
      partnerDiscovery: true,
      outgoingVerifiable: true,
    },
    publicProviders: [
      provider('AOL', 'aol', 'sip.oscar.aol.com'),
      provider('Yahoo', 'yahoo', 'sip.yahoo.com'),
      provider('WindowsLive', 'windows-live', 'federation.messenger.msn.com'),
    ],
    allowedDomains: [],
    blockedDomains: [],
    externalAccessPolicies: [
      {
        name: 'global',
        federation: true,
        publicCloud: true,
        publicCloudAudioVideo: true,
        xmpp: true,
      },
    ],
    xmppPartners: [
      {
        domain: first,
        additionalDomains: rest,
        partnerType: 'Federated',
        tls: 'Optional',
        sasl: 'Optional',
        dialback: true,
      },
    ],
  }
}

function provider(name: string, network: string, proxyFqdn: string) {
  return { name, network, proxyFqdn, enabled: true, verificationLevel: 'AlwaysVerifiable' as const }
}
