/**
 * Federation partner discovery, as Lync's edge did it: a domain with no
 * configured route is looked up as `_sipfederationtls._tcp.<domain>` (DNS
 * SRV, RFC 2782) and reached over TLS at the record's target.
 */
import type { SrvRecord } from 'node:dns'
import { PluginError } from '../../core/contract/index.js'
import type { SipPeer } from './config.js'

export interface SrvResolver {
  resolveSrv(name: string): Promise<SrvRecord[]>
}

/** DNS answers meaning "no such record" (final) rather than "try later". */
const NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME', 'NXDOMAIN'])

/** The peer serving `domain`, from its SRV records (lowest priority, then highest weight). */
export async function discoverPeer(domain: string, resolver: SrvResolver): Promise<SipPeer> {
  const name = `_sipfederationtls._tcp.${domain}`
  let records: SrvRecord[]
  try {
    records = await resolver.resolveSrv(name)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'ESERVFAIL'
    throw new PluginError(
      'PARLEY_ERR_SEND_FAILED',
      `no federation route to '${domain}': ${name} ${code}`,
      {
        retryable: !NOT_FOUND.has(code),
        condition: code,
        cause: err,
      },
    )
  }
  const best = [...records].sort((a, b) => a.priority - b.priority || b.weight - a.weight)[0]
  if (!best || best.name === '' || best.name === '.')
    throw new PluginError(
      'PARLEY_ERR_SEND_FAILED',
      `no federation route to '${domain}': ${name} is empty`,
      {
        retryable: false,
      },
    )
  return { domains: [domain], host: best.name, port: best.port, transport: 'tls' }
}
