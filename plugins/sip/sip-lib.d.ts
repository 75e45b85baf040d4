/** The parts of the `sip` package (kirm, 0.0.6; untyped) Parley uses. */
declare module 'sip' {
  export interface SipUri {
    schema?: string
    user?: string
    password?: string
    host: string
    port?: number
    params: Record<string, string | null | undefined>
    headers?: Record<string, string>
  }
  export interface NameAddr {
    name?: string
    uri: string
    params: Record<string, string | null | undefined>
  }
  export interface Via {
    version?: string
    protocol?: string
    host?: string
    port?: number
    params: Record<string, string | null | undefined>
  }
  export interface SipHeaders {
    to: NameAddr
    from: NameAddr
    'call-id': string
    cseq: { seq: number; method: string }
    via?: Via[]
    contact?: NameAddr[] | string
    route?: NameAddr[] | string
    'record-route'?: NameAddr[]
    'content-type'?: string
    'content-length'?: number
    [name: string]: unknown
  }
  export interface SipRequest {
    method: string
    uri: string
    version?: string
    headers: SipHeaders
    content?: string
  }
  export interface SipResponse {
    status: number
    reason: string
    version?: string
    headers: SipHeaders
    content?: string
  }
  export type SipMessage = SipRequest | SipResponse
  export interface Remote {
    protocol: string
    address: string
    port: number
    local?: { address: string; port: number }
  }
  export interface StackOptions {
    address?: string
    hostname?: string
    publicAddress?: string
    port?: number
    udp?: boolean
    tcp?: boolean
    tls?: import('node:tls').TlsOptions
    tls_port?: number
    maxBytesHeaders?: number
    maxContentLength?: number
    /** Added by patches/sip+0.0.6.patch: a listener is bound. */
    onListening?(protocol: 'UDP' | 'TCP' | 'TLS'): void
    /** Added by patches/sip+0.0.6.patch: a listener could not bind (EADDRINUSE, ...). */
    onListenError?(error: NodeJS.ErrnoException, protocol: 'UDP' | 'TCP' | 'TLS'): void
    logger?: {
      error?(e: unknown): void
      send?(m: SipMessage, target: Remote): void
      recv?(m: SipMessage, remote: Remote): void
    }
  }
  export interface Stack {
    send(message: SipMessage, callback?: (response: SipResponse) => void): void
    destroy(): void
    hostname(): string
  }
  export function create(
    options: StackOptions,
    onRequest: (request: SipRequest, remote: Remote) => void,
  ): Stack
  export function makeResponse(
    request: SipRequest,
    status: number,
    reason?: string,
    extension?: { headers?: Record<string, unknown>; content?: string },
  ): SipResponse
  export function parseUri(uri: string): SipUri
  export function stringifyUri(uri: SipUri): string
  export function generateBranch(): string
  const sip: {
    create: typeof create
    makeResponse: typeof makeResponse
    parseUri: typeof parseUri
    stringifyUri: typeof stringifyUri
    generateBranch: typeof generateBranch
  }
  export default sip
}
