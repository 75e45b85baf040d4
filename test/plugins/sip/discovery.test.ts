import type { SrvRecord } from 'node:dns'
import t from 'tap'
import { PluginError } from '../../../core/contract/index.js'
import { discoverPeer } from '../../../plugins/sip/discovery.js'

/** A resolver answering from a table: what DNS would return for each name. */
function resolver(table: Record<string, SrvRecord[] | string>) {
  const asked: string[] = []
  return {
    asked,
    async resolveSrv(name: string): Promise<SrvRecord[]> {
      asked.push(name)
      const answer = table[name]
      if (typeof answer === 'string') throw Object.assign(new Error(answer), { code: answer })
      if (!answer) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' })
      return answer
    },
  }
}

t.test(
  'the federation SRV record gives the peer: lowest priority, then highest weight, over TLS',
  async (t) => {
    const dns = resolver({
      '_sipfederationtls._tcp.partner.example': [
        { name: 'backup.partner.example', port: 5062, priority: 20, weight: 100 },
        { name: 'light.partner.example', port: 5061, priority: 10, weight: 10 },
        { name: 'edge.partner.example', port: 5061, priority: 10, weight: 50 },
      ],
    })
    const peer = await discoverPeer('partner.example', dns)
    t.same(peer, {
      domains: ['partner.example'],
      host: 'edge.partner.example',
      port: 5061,
      transport: 'tls',
    })
    t.same(dns.asked, ['_sipfederationtls._tcp.partner.example'])
  },
)

t.test('no record is final; a DNS failure is retryable; an empty target is final', async (t) => {
  const dns = resolver({
    '_sipfederationtls._tcp.flaky.example': 'ESERVFAIL',
    '_sipfederationtls._tcp.dot.example': [{ name: '.', port: 0, priority: 0, weight: 0 }],
  })
  const missing = await discoverPeer('nobody.example', dns).catch((e: unknown) => e)
  t.ok(PluginError.is(missing))
  t.match(missing, { retryable: false, condition: 'ENOTFOUND', message: /nobody\.example/ })
  const flaky = await discoverPeer('flaky.example', dns).catch((e: unknown) => e)
  t.match(flaky, { retryable: true, condition: 'ESERVFAIL' })
  const dot = await discoverPeer('dot.example', dns).catch((e: unknown) => e)
  t.match(dot, { retryable: false, message: /empty/ })
})
