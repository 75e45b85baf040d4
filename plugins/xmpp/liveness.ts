/**
 * Is the server still there? Any inbound traffic says yes; only a quiet line
 * gets an XEP-0199 ping, and no answer in time means a zombie peer (socket
 * open, nobody home: a frozen process, a dead NAT mapping). TCP alone would
 * not notice for many minutes.
 */
import type { XmppClient } from '@xmpp/client'
import { pingStanza } from './wire.js'

export interface LivenessOptions {
  /** Ping after this long without inbound traffic. */
  intervalMs: number
  /** Dead when the ping is not answered within this. */
  timeoutMs: number
  /** Where pings go: our server. */
  domain: string
}

export class Liveness {
  readonly #options: LivenessOptions
  #timer: NodeJS.Timeout | undefined
  #lastInbound = 0
  #pinging = false

  constructor(options: LivenessOptions) {
    this.#options = options
  }

  /** Something arrived from the server. */
  touch(): void {
    this.#lastInbound = Date.now()
  }

  get idleMs(): number {
    return Date.now() - this.#lastInbound
  }

  /** Watches `entity` until `stop()`; calls `onDead` once if a ping goes unanswered. */
  start(entity: XmppClient, onDead: (reason: string) => void): void {
    this.stop()
    this.touch()
    const { intervalMs, timeoutMs, domain } = this.#options
    const tick = Math.max(25, Math.min(1000, Math.floor(intervalMs / 4)))
    const timer = setInterval(() => {
      if (this.#pinging || this.idleMs < intervalMs) return
      this.#pinging = true
      entity.iqCaller
        .request(pingStanza(domain), timeoutMs)
        .then(
          () => {},
          (err: unknown) => {
            // An error reply is still a reply: the server is alive.
            if ((err as Error | undefined)?.name !== 'TimeoutError' || this.#timer !== timer) return
            this.stop()
            onDead(`no answer to ping within ${timeoutMs} ms`)
          },
        )
        .finally(() => {
          this.#pinging = false
        })
    }, tick)
    timer.unref()
    this.#timer = timer
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
