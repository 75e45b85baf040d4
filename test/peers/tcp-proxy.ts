/**
 * A loopback TCP proxy to put between a client and a real peer, so a test
 * can break the network without touching the peer: `cut()` drops every
 * connection at once (like a NAT timeout or Wi-Fi loss: the server keeps the
 * session and may let the client resume it), `blackhole()` keeps sockets open
 * but stops forwarding (a silent network), `outage()` cuts everything and
 * refuses new connections (the server is gone: a stopped database).
 */
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'

export interface TcpProxy {
  readonly port: number
  /** `xmpp://127.0.0.1:PORT` */
  readonly service: string
  /** Connections accepted so far. */
  readonly accepted: number
  /** Destroys every open connection (both sides); new ones are still accepted. */
  cut(): void
  /**
   * When the client next sends bytes matching `pattern` (once), before the
   * server sees them: `cut` everything, or `blackhole` from there on (those
   * bytes included). For "the link died right after the client sent X".
   */
  onClientData(pattern: RegExp, action: 'cut' | 'blackhole'): void
  /** Stops forwarding in both directions (bytes are kept, not lost); sockets stay open. `restore()` delivers them. */
  blackhole(): void
  /** Cuts every connection and refuses (closes at once) new ones until `restore()`. */
  outage(): void
  /** Ends a `blackhole()` (delivering what was held) or an `outage()`. */
  restore(): void
  close(): Promise<void>
}

export async function startTcpProxy(target: { port: number; host?: string }): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1'
  const pairs = new Set<[Socket, Socket]>()
  let accepted = 0
  let holding = false
  let refusing = false
  let trigger: { pattern: RegExp; action: 'cut' | 'blackhole' } | undefined
  const flushers = new Set<() => void>()
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy()
      return
    }
    accepted++
    const upstream = connect({ host, port: target.port })
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    const forward = (from: Socket, to: Socket) => {
      // A silent network delays bytes, it does not lose them (TCP): park them.
      const parked: Buffer[] = []
      from.on('data', (chunk: Buffer) => {
        if (from === client && trigger?.pattern.test(chunk.toString('utf8'))) {
          const { action } = trigger
          trigger = undefined
          if (action === 'cut') {
            cut()
            return
          }
          holding = true
        }
        if (holding) parked.push(chunk)
        else to.write(chunk)
      })
      flushers.add(() => {
        for (const chunk of parked.splice(0)) to.write(chunk)
      })
    }
    forward(client, upstream)
    forward(upstream, client)
    const close = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    for (const socket of pair) {
      socket.on('error', close)
      socket.on('close', close)
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('proxy has no port')
  const cut = () => {
    for (const [a, b] of pairs) {
      a.destroy()
      b.destroy()
    }
    pairs.clear()
  }
  return {
    port: address.port,
    service: `xmpp://127.0.0.1:${address.port}`,
    get accepted() {
      return accepted
    },
    cut() {
      cut()
      holding = false
    },
    onClientData(pattern, action) {
      trigger = { pattern, action }
    },
    blackhole() {
      holding = true
    },
    outage() {
      refusing = true
      cut()
    },
    restore() {
      holding = false
      refusing = false
      for (const flush of flushers) flush()
    },
    async close() {
      cut()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
