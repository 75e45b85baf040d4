/**
 * SIP addresses of record, normalised to `sip:user@host`: the id Parley uses
 * in `sip:` addresses. Pure functions; malformed input throws
 * PARLEY_ERR_ADDRESS_INVALID (callers reading the wire catch it and report
 * the message as invalid).
 *
 * Grammar: RFC 3261 §25.1 (SIP-URI, name-addr, user, hostname). Comparison
 * rules: §19.1.4 (scheme and host case-insensitive, user case-sensitive,
 * `%HH` escapes equal to the characters they stand for).
 */
import { isIP } from 'node:net'
import { parleyError } from '../../core/contract/index.js'

export interface SipUri {
  /** The user part, case kept, escapes normalised. */
  user: string
  /** The host, lower-cased, without port or trailing dot. */
  host: string
}

/** Lync's domain for Windows Live (PIC) contacts: `user(domain)@msn.com`. */
export const LIVE_DOMAIN = 'msn.com'

const MAX_INPUT = 1024

function invalid(id: unknown, reason: string): never {
  throw parleyError('PARLEY_ERR_ADDRESS_INVALID', String(id).slice(0, 200), reason)
}

/**
 * Parses a SIP address in any of the forms a peer or a REST client writes:
 * `user@host`, `sip:user@host;params?headers`, `sips:...`, `<sip:...>`,
 * `Display Name <sip:...>;tag=x`, `"Quoted \"Name\"" <sip:...>`. Parameters,
 * headers, port, password-free userinfo only; `sips` is the same address as
 * `sip`.
 */
export function parseSipUri(id: string): SipUri {
  if (typeof id !== 'string' || id.length === 0) invalid(id, 'empty SIP URI')
  if (id.length > MAX_INPUT) invalid(id, 'SIP URI too long')
  if (/\p{Cc}/u.test(id)) invalid(id, 'control character in SIP URI')

  const uri = addrSpec(id)
  if (/\s/u.test(uri)) invalid(id, 'space in SIP URI')

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)
  let rest = uri
  if (scheme) {
    const name = (scheme[1] as string).toLowerCase()
    if (name !== 'sip' && name !== 'sips') invalid(id, `'${name}:' is not a SIP URI scheme`)
    rest = uri.slice(scheme[0].length)
  }
  const at = rest.indexOf('@')
  if (at < 0) invalid(id, "missing user part (no '@')")
  const userinfo = rest.slice(0, at)
  if (userinfo.length === 0) invalid(id, 'empty user part')
  if (userinfo.includes(':')) invalid(id, 'password in SIP URI')
  const user = normalizeUser(id, userinfo)

  const hostport = rest.slice(at + 1).split(/[;?]/, 1)[0] as string
  const host = parseHostport(id, hostport)
  return { user, host }
}

/** `sip:user@host`, normalised (see parseSipUri). Throws PARLEY_ERR_ADDRESS_INVALID. */
export function normalizeSipUri(id: string): string {
  const { user, host } = parseSipUri(id)
  return `sip:${user}@${host}`
}

/** The host of a SIP address, lower-cased. Throws PARLEY_ERR_ADDRESS_INVALID. */
export function sipDomain(uri: string): string {
  return parseSipUri(uri).host
}

/**
 * Lync's PIC name for a Windows Live contact: `alice@contoso.com` ->
 * `sip:alice(contoso.com)@msn.com`. An address already at msn.com (native,
 * or already decorated) is returned normalised.
 */
export function decorateLive(id: string, liveDomain = LIVE_DOMAIN): string {
  const { user, host } = parseSipUri(id)
  if (host === liveDomain) return `sip:${user}@${host}`
  if (/[()]/.test(user)) invalid(id, 'user part already holds parentheses')
  return `sip:${user}(${host})@${liveDomain}`
}

/**
 * The inverse of decorateLive: `sip:alice(contoso.com)@msn.com` ->
 * `sip:alice@contoso.com`. An address that is not decorated is returned
 * normalised.
 */
export function undecorateLive(id: string, liveDomain = LIVE_DOMAIN): string {
  const { user, host } = parseSipUri(id)
  if (host !== liveDomain) return `sip:${user}@${host}`
  const match = /^([^()]*)\(([^()]*)\)$/.exec(user)
  if (!match) {
    if (/[()]/.test(user)) invalid(id, 'malformed Windows Live decoration')
    return `sip:${user}@${host}`
  }
  const inner = match[1] as string
  if (inner.length === 0) invalid(id, 'empty user part inside the Windows Live decoration')
  const domain = parseHostport(id, decodeEscapes(match[2] as string))
  return `sip:${inner}@${domain}`
}

// --------------------------------------------------------------- parsing

/**
 * The addr-spec of a name-addr (`[display-name] <addr-spec> [;header-params]`),
 * or the input itself when it has no angle brackets.
 */
function addrSpec(id: string): string {
  const value = id.trim()
  let pos = 0
  if (value.startsWith('"')) {
    // quoted-string display name, with \-escapes
    pos = 1
    while (pos < value.length && value[pos] !== '"') pos += value[pos] === '\\' ? 2 : 1
    if (pos >= value.length) invalid(id, 'unterminated quoted display name')
    pos += 1
    if (!value.slice(pos).trimStart().startsWith('<')) invalid(id, "display name without '<uri>'")
  }
  const open = value.indexOf('<', pos)
  if (open < 0) {
    if (value !== id) invalid(id, 'space in SIP URI')
    if (value.includes('>')) invalid(id, "unbalanced '>'")
    return value
  }
  const display = value.slice(pos === 0 ? 0 : pos, open)
  // A token display name; non-ASCII ones are taken too (they are dropped anyway).
  if (/["<>]/.test(display)) invalid(id, 'bad character in display name')
  const close = value.indexOf('>', open)
  if (close < 0) invalid(id, "missing '>'")
  const after = value.slice(close + 1).trim()
  if (after !== '' && !after.startsWith(';')) invalid(id, "text after '>'")
  if (after.includes('<') || after.includes('>')) invalid(id, "more than one '<uri>'")
  const inner = value.slice(open + 1, close)
  if (inner.includes('<')) invalid(id, "more than one '<'")
  return inner
}

// RFC 3261 user = 1*( unreserved / escaped / user-unreserved )
const UNRESERVED = /[A-Za-z0-9\-_.!~*'()]/
const USER_CHARS = /^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$/

/** Validates a user part; decodes escapes of unreserved characters, upper-cases the others. */
function normalizeUser(id: string, user: string): string {
  if (!USER_CHARS.test(user)) {
    invalid(id, user.includes('%') ? 'bad escape in user part' : 'bad character in user part')
  }
  return user.replace(/%([0-9A-Fa-f]{2})/g, (escaped, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16))
    return UNRESERVED.test(char) ? char : escaped.toUpperCase()
  })
}

function decodeEscapes(text: string): string {
  return text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  )
}

// RFC 3261 hostname: domainlabels of alphanum and '-', a toplabel starting with a letter.
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
const TOPLABEL = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/** `host[:port]` -> the host, lower-cased; the port is checked and dropped. */
function parseHostport(id: string, hostport: string): string {
  let host = hostport
  let port: string | undefined
  if (host.startsWith('[')) {
    const close = host.indexOf(']')
    if (close < 0) invalid(id, "missing ']' in IPv6 reference")
    const after = host.slice(close + 1)
    if (after !== '' && !after.startsWith(':')) invalid(id, "text after ']'")
    port = after === '' ? undefined : after.slice(1)
    host = host.slice(0, close + 1).toLowerCase()
    if (isIP(host.slice(1, -1)) !== 6) invalid(id, 'malformed IPv6 reference')
  } else {
    const colon = host.indexOf(':')
    if (colon >= 0) {
      port = host.slice(colon + 1)
      host = host.slice(0, colon)
    }
    host = host.toLowerCase().replace(/\.$/, '')
    if (host.length === 0) invalid(id, 'empty host')
    if (host.length > 253) invalid(id, 'host too long')
    if (/^[0-9.]+$/.test(host)) {
      if (isIP(host) !== 4) invalid(id, 'malformed IPv4 address')
    } else {
      const labels = host.split('.')
      const top = labels[labels.length - 1] as string
      if (!labels.every((label) => LABEL.test(label)) || !TOPLABEL.test(top)) {
        invalid(id, 'malformed host')
      }
    }
  }
  if (port !== undefined && !/^[0-9]{1,5}$/.test(port)) invalid(id, 'malformed port')
  if (port !== undefined && (Number(port) === 0 || Number(port) > 65535)) {
    invalid(id, 'port out of range')
  }
  return host
}
