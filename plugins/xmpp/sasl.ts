/**
 * Which SASL mechanism to log in with. @xmpp/client prefers SCRAM-SHA-1
 * unless the socket is TLS, and its SCRAM costs 0.4–1.4 s of CPU per login
 * (measured against Prosody 0.12; PLAIN: ~2 ms). PLAIN is exactly as safe as
 * the channel, so it is used on TLS and on the loopback, and never on a
 * plaintext remote link.
 */
import { isIP } from 'node:net'
import type { CredentialsHandler } from '@xmpp/client'

/** A credentials handler for @xmpp/client that picks the mechanism as above. */
export function credentialsFor(options: {
  service: string
  username: string
  password: string
  onChoice?: (mechanism: string, offered: string[]) => void
}): CredentialsHandler {
  const loopback = isLoopbackService(options.service)
  return async (authenticate, mechanisms, _fast, entity) => {
    const mechanism = chooseMechanism(mechanisms, entity.isSecure() || loopback)
    if (!mechanism) {
      // Shaped like @xmpp/sasl's errors, so failure.ts treats it as one (fatal).
      throw Object.assign(new Error(`no usable SASL mechanism among ${mechanisms.join(', ')}`), {
        name: 'SASLError',
        condition: 'no-usable-mechanism',
      })
    }
    options.onChoice?.(mechanism, mechanisms)
    await authenticate({ username: options.username, password: options.password }, mechanism)
  }
}

/** PLAIN when offered on a safe channel, else the first offered that is neither PLAIN nor ANONYMOUS. */
export function chooseMechanism(offered: string[], safeChannel: boolean): string | undefined {
  if (safeChannel && offered.includes('PLAIN')) return 'PLAIN'
  return offered.find((m) => m !== 'PLAIN' && m !== 'ANONYMOUS')
}

export function isLoopbackService(service: string): boolean {
  let host: string
  try {
    host = new URL(service).hostname.replace(/^\[|\]$/g, '')
  } catch {
    return false
  }
  if (host === 'localhost' || host.endsWith('.localhost')) return true
  if (isIP(host) === 4) return host.startsWith('127.')
  return host === '::1'
}
