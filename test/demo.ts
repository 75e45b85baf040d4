/**
 * `npm run demo`: Parley in one minute. Starts a throw-away Prosody (on a
 * free port, its own data dir), the host with the xmpp plugin and the echo
 * bot, and a scripted XMPP user who sends a few messages; prints the
 * conversation as it happens and the /v1/networks view, then cleans up.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKey } from '../core/auth/keys.js'
import { deleteRedisPrefix } from './helpers/app.js'
import { connectUser } from './helpers/xmpp-user.js'
import { freePort, startProsody } from './peers/prosody.js'

const ROOT = new URL('../', import.meta.url).pathname
const say = (who: string, text: string) =>
  console.log(`${new Date().toISOString().slice(11, 23)}  ${who.padEnd(22)} ${text}`)

async function main(): Promise<void> {
  say('demo', 'starting a throw-away Prosody…')
  const prosody = await startProsody({
    users: [
      { username: 'echo', password: 'echo-pass' },
      { username: 'alice', password: 'alice-pass' },
    ],
  })
  say('demo', `Prosody ${prosody.domain} on ${prosody.service}`)
  const dir = mkdtempSync(join(tmpdir(), 'parley-demo-'))
  const prefix = `parley-demo-${process.pid}`
  const port = await freePort()
  // The REST API needs a key: the demo gives its host one (an operator's PARLEY_ADMIN_KEY).
  const adminKey = generateKey().key
  const auth = { authorization: `Bearer ${adminKey}` }
  say('demo', `starting Parley on http://127.0.0.1:${port} (SQLite in ${dir})…`)
  const host = spawn(process.execPath, ['--import', 'tsx', 'core/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      LOG_LEVEL: 'warn',
      DATABASE_URL: '',
      PARLEY_CONFIG: 'test/demo.config.ts',
      DEMO_SQLITE: join(dir, 'parley.sqlite'),
      DEMO_PREFIX: prefix,
      XMPP_SERVICE: prosody.service,
      XMPP_DOMAIN: prosody.domain,
      XMPP_USERNAME: 'echo',
      XMPP_PASSWORD: 'echo-pass',
      PARLEY_ADMIN_KEY: adminKey,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const base = `http://127.0.0.1:${port}`
  try {
    const deadline = Date.now() + 30_000
    for (;;) {
      const view = await fetch(`${base}/v1/networks/xmpp`, { headers: auth })
        .then((r) => r.json() as Promise<{ status?: string }>)
        .catch(() => undefined)
      if (view?.status === 'online') break
      if (Date.now() > deadline || host.exitCode !== null)
        throw new Error('the host did not come online')
      await new Promise((r) => setTimeout(r, 200))
    }
    say('demo', 'xmpp network online; alice logs in')
    const alice = await connectUser({
      service: prosody.service,
      domain: prosody.domain,
      username: 'alice',
      password: 'alice-pass',
    })
    alice.onMessage((m) => say(m.from.split('/')[0] ?? m.from, `-> alice: ${m.body}`))
    const bot = prosody.jid('echo')
    const lines = ['Hello, Parley!', 'Are you a bot?', 'Bye for now.']
    for (const [i, line] of lines.entries()) {
      say(alice.jid, `-> ${bot}: ${line}`)
      await alice.send(bot, line)
      await alice.waitForMessages(i + 1)
    }
    say('demo', 'a service sends alice a message over REST: POST /v1/messages')
    const res = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ to: `xmpp:${alice.jid}`, text: 'Your build passed.' }),
    })
    const { id } = (await res.json()) as { id: string }
    say('demo', `202 accepted, message ${id}`)
    await alice.waitForMessages(lines.length + 1)
    await new Promise((r) => setTimeout(r, 200))
    const status = (await (await fetch(`${base}/v1/messages/${id}`, { headers: auth })).json()) as {
      status: string
      attempts: number
    }
    say('demo', `GET /v1/messages/${id} -> ${status.status} (attempts ${status.attempts})`)
    console.log('\nGET /v1/networks')
    console.log(
      JSON.stringify(await (await fetch(`${base}/v1/networks`, { headers: auth })).json(), null, 2),
    )
    await alice.stop()
  } finally {
    host.kill('SIGTERM')
    await new Promise((resolve) => host.once('exit', resolve))
    await prosody.stop()
    await deleteRedisPrefix(prefix)
    rmSync(dir, { recursive: true, force: true })
    say('demo', 'cleaned up')
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`demo failed: ${(err as Error).message}`)
    process.exit(1)
  },
)
