import { defaultPolicy, type Policy } from './model.js'

/**
 * A policy that lets the users of one XMPP domain (and `more` domains)
 * talk to Parley's identities, and nothing else: the edge allows federated
 * users, the global external access policy allows XMPP, and the domains are
 * a Federated partner with TLS and SASL optional (a local server's client
 * stream may be plain). The default config's demo and the benchmarks use it.
 */
export function xmppDomainPolicy(domain: string, more: string[] = []): Policy {
  const policy = defaultPolicy()
  policy.edge.allowFederatedUsers = true
  for (const access of policy.externalAccessPolicies) access.xmpp = true
  policy.xmppPartners = [
    {
      domain,
      additionalDomains: more,
      partnerType: 'Federated',
      tls: 'Optional',
      sasl: 'Optional',
      dialback: true,
    },
  ]
  return policy
}
