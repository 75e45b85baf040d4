/**
 * The baseline: an echo bot straight on @xmpp/client, with no queue, no
 * store and no botbuilder. It answers each message as it arrives.
 * Env: XMPP_SERVICE, XMPP_DOMAIN, XMPP_USERNAME, XMPP_PASSWORD.
 */
import { client, type Element, xml } from '@xmpp/client'
// The same @xmpp/client fixes the plugin runs with (split UTF-8, XEP-0198 races).
import { patchClient } from '../../plugins/xmpp/library-fixes.js'

const env = process.env
const entity = client({
  service: env.XMPP_SERVICE,
  domain: env.XMPP_DOMAIN,
  resource: 'direct',
  credentials: async (authenticate: (c: object, m: string) => Promise<void>) =>
    authenticate({ username: env.XMPP_USERNAME, password: env.XMPP_PASSWORD }, 'PLAIN'),
} as never)
patchClient(entity)
// Nagle's algorithm holds small stanzas back ~40 ms behind delayed ACKs.
entity.on('connect', () =>
  (entity as unknown as { socket?: { setNoDelay(v: boolean): void } }).socket?.setNoDelay(true),
)
entity.on('error', (err: Error) => console.error('direct bot error', err.message))
entity.on('stanza', (stanza: Element) => {
  if (!stanza.is('message') || stanza.attrs.type === 'error') return
  const body = stanza.getChildText('body')
  if (body === null) return
  void entity.send(
    xml(
      'message',
      { type: 'chat', to: stanza.attrs.from, id: `r-${stanza.attrs.id}` },
      xml('body', {}, `echo: ${body}`),
    ),
  )
})
entity.on('online', () => {
  void entity.send(xml('presence')).then(() => console.log('ready'))
})
await entity.start()
process.on('SIGTERM', () => {
  void entity.stop().finally(() => process.exit(0))
})
