/**
 * Types for the parts of @xmpp/client 0.14 Parley uses. The package ships no
 * declarations (and @types/xmpp__client describes an older API), so these are
 * written from its source in node_modules/@xmpp/*. Ambient, so tests that
 * drive raw clients get them too.
 */
declare module '@xmpp/client' {
  import type { EventEmitter } from 'node:events'
  import type { Socket } from 'node:net'

  export type Child = Element | string | number | null | undefined | boolean | Child[]

  /** ltx Element, as @xmpp/xml builds and parses it. */
  export class Element {
    constructor(name: string, attrs?: Record<string, string>)
    name: string
    attrs: Record<string, string | undefined>
    children: Array<Element | string>
    parent: Element | null
    is(name: string, xmlns?: string): boolean
    getName(): string
    getNS(): string | undefined
    getAttr(name: string, xmlns?: string): string | undefined
    getChild(name: string, xmlns?: string): Element | undefined
    getChildren(name: string, xmlns?: string): Element[]
    getChildElements(): Element[]
    getChildText(name: string, xmlns?: string): string | null
    getText(): string
    text(): string
    append(...nodes: Child[]): this
    toString(): string
  }

  export interface XmlFactory {
    (
      name: string,
      attrs?: Record<string, string | number | null | undefined> | null,
      ...children: Child[]
    ): Element
    Element: typeof Element
  }
  export const xml: XmlFactory

  export interface JID {
    local: string
    domain: string
    resource: string
    bare(): JID
    toString(): string
    getLocal(): string
    getDomain(): string
    getResource(): string
  }
  export function jid(address: string): JID
  export function jid(local: string | null, domain: string, resource?: string): JID

  /** XMPPError subclasses: SASLError, StreamError, StanzaError (@xmpp/error). */
  export interface XMPPErrorLike extends Error {
    condition?: string
    text?: string
    element?: Element
  }

  export interface IncomingContext {
    stanza: Element
    entity: XmppClient
    name: string
    id: string
    type: string
    from: JID | null
    to: JID | null
    element?: Element
  }

  export interface IqCaller {
    request(stanza: Element, timeout?: number): Promise<Element>
    get(element: Element, to?: string, timeout?: number): Promise<Element | undefined>
    set(element: Element, to?: string, timeout?: number): Promise<Element | undefined>
  }

  export type IqHandler = (ctx: IncomingContext, next: () => Promise<unknown>) => unknown
  export interface IqCallee {
    get(ns: string, name: string, handler: IqHandler): void
    set(ns: string, name: string, handler: IqHandler): void
  }

  /** @xmpp/stream-management's state object (an EventEmitter: 'ack', 'fail', 'resumed'). */
  export interface StreamManagement extends EventEmitter {
    enabled: boolean
    enableSent: boolean
    id: string
    inbound: number
    outbound: number
    outbound_q: Array<{ stanza: Element; stamp: string }>
    max: number | null
    preferredMaximum: number | null
    /** ms without an answer to <r/> before the library disconnects; 0 disables. */
    timeout: number
    /** ms of silence before the library sends <r/>; 0 disables. */
    requestAckInterval: number
    /** ms after an outbound stanza before <r/> is sent. */
    requestAckDebounce: number
  }

  export interface Reconnect extends EventEmitter {
    delay: number
    start(): void
    stop(): void
  }

  export type SaslAuthenticate = (
    credentials: { username: string; password: string },
    mechanism: string,
    userAgent?: Element,
  ) => Promise<void>

  export type CredentialsHandler = (
    authenticate: SaslAuthenticate,
    mechanisms: string[],
    fast: unknown,
    entity: XmppClient,
  ) => Promise<void>

  export interface ClientOptions {
    service: string
    domain?: string
    resource?: string | (() => string | Promise<string>)
    username?: string
    password?: string
    credentials?: CredentialsHandler | { username: string; password: string }
    lang?: string
    timeout?: number
  }

  export type ClientStatus =
    | 'offline'
    | 'connecting'
    | 'connect'
    | 'opening'
    | 'open'
    | 'online'
    | 'closing'
    | 'close'
    | 'disconnecting'
    | 'disconnect'

  export interface XmppClient extends EventEmitter {
    status: ClientStatus
    jid: JID | null
    socket: (Socket & { secure?: boolean }) | null
    options: ClientOptions & { domain: string }
    timeout: number
    iqCaller: IqCaller
    iqCallee: IqCallee
    streamManagement: StreamManagement
    reconnect: Reconnect
    /** The stream parser of the current connection (internal). */
    parser: { write(text: string): void } | null
    /** Socket 'data' handler (internal; bound when the first socket is attached). */
    _onData(data: Buffer | string): void
    isSecure(): boolean
    start(): Promise<JID>
    stop(): Promise<Element | undefined>
    connect(service: string): Promise<void>
    open(options: { domain: string; lang?: string }): Promise<Element>
    disconnect(): Promise<Element | undefined>
    send(element: Element): Promise<void>
    sendMany(elements: Element[]): Promise<void>
    write(text: string): Promise<void>
  }

  export function client(options: ClientOptions): XmppClient
}
