import { type Static, Type } from 'typebox'

/**
 * Options shared by the public IM provider profiles (`aol`, `windows-live`,
 * `yahoo`): Parley's side of the edge, and where the provider's federation
 * proxy is. Each profile fills in its own defaults.
 */
export function providerOptions(defaults: {
  proxyHost?: string
  proxyPort: number
  transport: 'tcp' | 'tls'
}) {
  return Type.Object(
    {
      /** Parley's SIP domain, as the provider knows it. */
      domain: Type.String({ minLength: 1, maxLength: 253 }),
      /** Users of `domain` Parley speaks for. */
      identities: Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { minItems: 1 }),
      listen: Type.Object(
        {
          address: Type.String({ minLength: 1, default: '127.0.0.1' }),
          port: Type.Integer({ minimum: 1, maximum: 65535, default: 5060 }),
          tlsPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
        },
        { additionalProperties: false, default: {} },
      ),
      tls: Type.Optional(
        Type.Object(
          {
            cert: Type.String({ minLength: 1 }),
            key: Type.String({ minLength: 1 }),
            ca: Type.String({ minLength: 1 }),
            requireClientCert: Type.Boolean({ default: true }),
          },
          { additionalProperties: false },
        ),
      ),
      /** The provider's federation proxy (Lync's `ProxyFqdn`). */
      proxy: Type.Object(
        {
          host: defaults.proxyHost
            ? Type.String({ minLength: 1, default: defaults.proxyHost })
            : Type.String({ minLength: 1 }),
          port: Type.Integer({ minimum: 1, maximum: 65535, default: defaults.proxyPort }),
          transport: Type.Union([Type.Literal('tcp'), Type.Literal('tls')], {
            default: defaults.transport,
          }),
        },
        { additionalProperties: false, ...(defaults.proxyHost && { default: {} }) },
      ),
      /** Domains the provider serves; default: the provider's own list. */
      domains: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
      imMode: Type.Union([Type.Literal('pager'), Type.Literal('session')], { default: 'pager' }),
      /** Identities holding a PIC licence (only for providers that require one). */
      licensed: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
      /** Run a provider whose service has ended (a revival network or a lab). */
      allowRetired: Type.Boolean({ default: false }),
    },
    { additionalProperties: false },
  )
}

export type ProviderOptions = Static<ReturnType<typeof providerOptions>>

/** What the public IM providers offered Lync: IM and pushed presence with subscriptions (and A/V for some). */
export function providerCapabilities(audioVideo: boolean) {
  return {
    im: true,
    presence: 'push' as const,
    subscriptions: true,
    typing: false,
    receipts: false,
    audioVideo,
    groupChat: false,
  }
}

/**
 * The `sip` edge's options for a provider profile: Parley's side as
 * configured, one peer (the provider's proxy) for the provider's domains,
 * plus what the profile adds (licences, call handling, name decoration).
 */
export function edgeOptions(
  options: Readonly<ProviderOptions>,
  network: string,
  defaultDomains: string[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    network,
    domain: options.domain,
    identities: options.identities,
    listen: options.listen,
    ...(options.tls && { tls: options.tls }),
    peers: [{ domains: options.domains ?? defaultDomains, ...options.proxy }],
    imMode: options.imMode,
    ...extra,
  }
}
