import { type Static, Type } from 'typebox'

const Transport = Type.Union([Type.Literal('udp'), Type.Literal('tcp'), Type.Literal('tls')])

/** A federation peer: the proxy that serves some domains (Lync's public provider `proxyFqdn`). */
export const SipPeer = Type.Object(
  {
    /** Domains this peer serves, e.g. `aol.com`, `aim.com`. */
    domains: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { minItems: 1 }),
    /** The peer's proxy host (FQDN or IP). */
    host: Type.String({ minLength: 1, maxLength: 253 }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 5061 }),
    transport: Transport,
  },
  { additionalProperties: false },
)

/**
 * Options of the `sip` plugin: Parley's SIP/SIMPLE federation edge. Parley
 * is the server of `domain`; each identity is a user of that domain.
 */
export const SipConfig = Type.Object(
  {
    /** The network name addresses carry (`sip`, or a provider profile's name: `aol`, …). @defaultValue 'sip' */
    network: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$', default: 'sip' }),
    /** Parley's SIP domain, e.g. `parley.example.org`. */
    domain: Type.String({ minLength: 1, maxLength: 253 }),
    /** Users of `domain` Parley speaks for (`bot` or `sip:bot@domain`). */
    identities: Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { minItems: 1 }),
    /** Where the edge listens. */
    listen: Type.Object(
      {
        address: Type.String({ minLength: 1, default: '127.0.0.1' }),
        /** Port for UDP and TCP. */
        port: Type.Integer({ minimum: 1, maximum: 65535, default: 5060 }),
        udp: Type.Boolean({ default: true }),
        tcp: Type.Boolean({ default: true }),
        /** TLS port (mutual TLS when `tls.requireClientCert`). Unset: no TLS listener. */
        tlsPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
      },
      { additionalProperties: false },
    ),
    /** PEM files for TLS: the edge's certificate and key, and the CA its peers' certificates must chain to. */
    tls: Type.Optional(
      Type.Object(
        {
          cert: Type.String({ minLength: 1 }),
          key: Type.String({ minLength: 1 }),
          ca: Type.String({ minLength: 1 }),
          /** Refuse TLS peers without a valid client certificate (mutual TLS). @defaultValue true */
          requireClientCert: Type.Boolean({ default: true }),
        },
        { additionalProperties: false },
      ),
    ),
    /** Static routes to federation peers. */
    peers: Type.Array(SipPeer, { default: [] }),
    /**
     * A presence server for Parley's own domain: the identities' presence is
     * PUBLISHed there (RFC 3903) at start, on every change and before it
     * expires, and removed at stop. Unset: watchers SUBSCRIBE to the edge.
     */
    presenceServer: Type.Optional(
      Type.Object(
        {
          host: Type.String({ minLength: 1, maxLength: 253 }),
          port: Type.Integer({ minimum: 1, maximum: 65535 }),
          transport: Type.Union([Type.Literal('udp'), Type.Literal('tcp'), Type.Literal('tls')]),
          expires: Type.Integer({ minimum: 60, maximum: 86400, default: 3600 }),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * Partner discovery: a domain without a configured peer is looked up as
     * `_sipfederationtls._tcp.<domain>` (DNS SRV) and reached over TLS. Off:
     * only configured peers are reachable. @defaultValue false
     */
    srvDiscovery: Type.Boolean({ default: false }),
    /** How instant messages go out: pager-mode MESSAGE (RFC 3428) or an INVITE session. @defaultValue 'pager' */
    imMode: Type.Union([Type.Literal('pager'), Type.Literal('session')], { default: 'pager' }),
    /** How often peers are probed (a TCP/TLS connection) while online. */
    probeIntervalMs: Type.Integer({ minimum: 100, default: 30000 }),
    /** First delay before probing unreachable peers again; doubles, with jitter, up to reconnectMaxMs. */
    reconnectMinMs: Type.Integer({ minimum: 10, default: 1000 }),
    reconnectMaxMs: Type.Integer({ minimum: 10, default: 60000 }),
    /** SUBSCRIBE expiry asked for (seconds); refreshed before it runs out. */
    subscribeExpires: Type.Integer({ minimum: 60, maximum: 86400, default: 3600 }),
    /** Give up on a request without a final response after this (RFC 3261 Timer F is 32 s). */
    requestTimeoutMs: Type.Integer({ minimum: 100, maximum: 32000, default: 32000 }),
    /** Largest accepted body (bytes); larger requests get 413. */
    maxBodyBytes: Type.Integer({ minimum: 1024, maximum: 1048576, default: 65536 }),
    /**
     * Identities allowed to use this edge, when the provider requires a
     * per-user licence (Yahoo!'s PIC licence); others are refused both ways
     * with PARLEY_ERR_PIC_LICENCE. Unset: no licence needed.
     */
    licensed: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 255 }))),
    /**
     * Windows Live name decoration: users of other domains are written
     * `user(domain)@<domain>` on the wire (e.g. `alice(contoso.com)@msn.com`);
     * addresses in Parley stay `sip:alice@contoso.com`. `native` domains are
     * written as they are.
     */
    decoration: Type.Optional(
      Type.Object(
        {
          domain: Type.String({ minLength: 1, maxLength: 253 }),
          native: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { default: [] }),
        },
        { additionalProperties: false },
      ),
    ),
    /** Tell the host (and so the bot) of audio/video call offers, as `call` events. @defaultValue false */
    callEvents: Type.Boolean({ default: false }),
    /** Answer to an audio/video INVITE (Parley has no media). */
    callRefusal: Type.Integer({ minimum: 400, maximum: 699, default: 488 }),
  },
  { additionalProperties: false },
)

export type SipConfig = Static<typeof SipConfig>
export type SipPeer = Static<typeof SipPeer>
