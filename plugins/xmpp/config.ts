import { type Static, Type } from 'typebox'

/**
 * Options of the `xmpp` plugin (client mode: Parley logs in as one account).
 * Timing options are optional; `resolveOptions` fills in the defaults.
 */
export const XmppConfig = Type.Object(
  {
    /** Where to connect: `xmpp://host[:port]` (STARTTLS when offered), `xmpps://host:port` (direct TLS), `ws(s)://…`. */
    service: Type.String({
      pattern: '^(xmpps?|wss?)://[^\\s/]+',
      description: 'xmpp://host:port, xmpps://…, wss://…',
    }),
    /** The account's domain (the JID's domainpart). */
    domain: Type.String({ minLength: 1, maxLength: 1023 }),
    /** The account's localpart. */
    username: Type.String({ minLength: 1, maxLength: 1023 }),
    /** The account's password (a secret: redacted from logs). */
    password: Type.String({ minLength: 1 }),
    /** Resource to bind. A fixed one lets a restarted host replace its own stale session. @defaultValue 'parley' */
    resource: Type.Optional(Type.String({ minLength: 1, maxLength: 1023 })),
    /** First reconnect delay; doubles per failed attempt, with jitter. @defaultValue 1000 */
    reconnectMinMs: Type.Optional(Type.Integer({ minimum: 10, default: 1000 })),
    /** Longest reconnect delay. @defaultValue 60000 */
    reconnectMaxMs: Type.Optional(Type.Integer({ minimum: 10, default: 60_000 })),
    /** Give up on one connection attempt (TCP, stream, auth, bind) after this. @defaultValue 15000 */
    connectTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, default: 15_000 })),
    /** Send an XEP-0199 ping after this long without any inbound traffic. @defaultValue 30000 */
    pingIntervalMs: Type.Optional(Type.Integer({ minimum: 50, default: 30_000 })),
    /** No answer to the ping within this: `degraded`, then reconnect. @defaultValue 10000 */
    pingTimeoutMs: Type.Optional(Type.Integer({ minimum: 50, default: 10_000 })),
    /**
     * How long `send()` waits for the server's XEP-0198 acknowledgement before
     * failing (retryable). @defaultValue 10000
     */
    ackTimeoutMs: Type.Optional(Type.Integer({ minimum: 10, default: 10_000 })),
  },
  { additionalProperties: false },
)

export type XmppConfig = Static<typeof XmppConfig>

export type XmppOptions = Required<XmppConfig>

export const DEFAULTS = {
  resource: 'parley',
  reconnectMinMs: 1000,
  reconnectMaxMs: 60_000,
  connectTimeoutMs: 15_000,
  pingIntervalMs: 30_000,
  pingTimeoutMs: 10_000,
  ackTimeoutMs: 10_000,
} as const

/** The config with every default filled in (the loader may or may not have applied schema defaults). */
export function resolveOptions(config: Readonly<XmppConfig>): Readonly<XmppOptions> {
  const options: XmppOptions = { ...DEFAULTS, ...stripUndefined(config) } as XmppOptions
  if (options.reconnectMaxMs < options.reconnectMinMs)
    options.reconnectMaxMs = options.reconnectMinMs
  return Object.freeze(options)
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
