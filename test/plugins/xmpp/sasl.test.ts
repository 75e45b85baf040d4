import t from 'tap'
import { chooseMechanism, isLoopbackService } from '../../../plugins/xmpp/sasl.js'

t.test('PLAIN is chosen on a safe channel, never on a plaintext remote one', async (t) => {
  t.equal(chooseMechanism(['SCRAM-SHA-1', 'PLAIN'], true), 'PLAIN')
  t.equal(chooseMechanism(['SCRAM-SHA-1', 'PLAIN'], false), 'SCRAM-SHA-1')
  t.equal(chooseMechanism(['PLAIN'], false), undefined, 'PLAIN only, unsafe channel: nothing')
  t.equal(chooseMechanism(['ANONYMOUS', 'PLAIN'], false), undefined, 'never ANONYMOUS')
  t.equal(chooseMechanism(['SCRAM-SHA-1'], true), 'SCRAM-SHA-1', 'safe channel without PLAIN')
})

t.test('loopback services are recognised', async (t) => {
  for (const service of [
    'xmpp://127.0.0.1:5222',
    'xmpp://127.8.9.1',
    'xmpp://localhost:5222',
    'xmpp://[::1]:5222',
  ]) {
    t.ok(isLoopbackService(service), service)
  }
  for (const service of [
    'xmpp://example.org',
    'xmpp://10.0.0.1:5222',
    'xmpps://[2001:db8::1]:5223',
    'not a url',
  ]) {
    t.notOk(isLoopbackService(service), service)
  }
})
