import { parleyError } from './errors.js'

/** `network:id`, e.g. `xmpp:alice@example.org`, `sip:bob@corp.example`, `aol:sip:x@aol.test`. */
export type AddressString = string

export interface Address {
  /** Plugin name; also the address scheme and the outbound queue's suffix. */
  network: string
  /** The network's own id for the party, normalised by its plugin (bare JID, SIP URI, ...). */
  id: string
  /** The domain part of the id, lower-cased, or '' when the id has none. */
  domain: string
}

export const NETWORK_NAME = /^[a-z][a-z0-9-]{0,31}$/

/**
 * Splits `network:id` at the first colon. The id is kept as written; the
 * plugin of that network normalises and validates it (`normalizeId`).
 */
export function parseAddress(value: string): Address {
  if (typeof value !== 'string' || value.length === 0) {
    throw parleyError('PARLEY_ERR_ADDRESS_INVALID', String(value), 'empty')
  }
  if (value.length > 1024)
    throw parleyError('PARLEY_ERR_ADDRESS_INVALID', `${value.slice(0, 40)}…`, 'too long')
  const colon = value.indexOf(':')
  if (colon <= 0) throw parleyError('PARLEY_ERR_ADDRESS_INVALID', value, "expected 'network:id'")
  const network = value.slice(0, colon)
  const id = value.slice(colon + 1)
  if (!NETWORK_NAME.test(network))
    throw parleyError('PARLEY_ERR_ADDRESS_INVALID', value, `bad network name '${network}'`)
  if (id.length === 0 || /[\s\p{Cc}]/u.test(id)) {
    throw parleyError(
      'PARLEY_ERR_ADDRESS_INVALID',
      value,
      'empty id or control/space characters in id',
    )
  }
  return { network, id, domain: domainOf(id) }
}

export function formatAddress(network: string, id: string): AddressString {
  return `${network}:${id}`
}

/** The host part of `user@host[/resource]` or of a SIP URI `sip:user@host;params`. */
export function domainOf(id: string): string {
  const at = id.lastIndexOf('@')
  const rest = at >= 0 ? id.slice(at + 1) : id.replace(/^sips?:/, '')
  const end = rest.search(/[/;:?>]/)
  return (end >= 0 ? rest.slice(0, end) : rest).toLowerCase()
}
