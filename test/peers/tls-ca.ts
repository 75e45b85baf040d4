/**
 * A throwaway certificate authority for TLS tests, made with the `openssl`
 * CLI in its own temp dir (`parley-ca-*`, removed when the Node process
 * exits, or by `remove()`). Keys are EC P-256 (instant to generate); every
 * leaf certificate carries `extendedKeyUsage = serverAuth, clientAuth`, so
 * the same certificate serves a listener and a mutual-TLS client.
 *
 * - `kamailio`: SAN DNS for the provider domains and the Kamailio IP
 * - `parley`: SAN DNS `parley.test` and Parley's edge IP
 * - `rogue`: same SANs as `parley`, but signed by another CA (`rogueCaFile`):
 *   for "refused: unknown issuer" tests
 * - `issue()`: any further certificate signed by the CA
 *
 * PARLEY_KEEP_PEERS=1 keeps the directory.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

export interface CertFiles {
  /** PEM certificate file (leaf only). */
  certFile: string
  /** PEM private key file (unencrypted). */
  keyFile: string
  /** The certificate, PEM. */
  cert: string
  /** The private key, PEM. */
  key: string
}

export interface CertSubject {
  /** Subject CN. @defaultValue the first DNS name, else the name given to `issue()` */
  commonName?: string
  dns?: string[]
  ips?: string[]
}

export interface TestCaOptions {
  /** SAN DNS names of the Kamailio certificate. @defaultValue ['aol.test', 'yahoo.test', 'live.test'] */
  kamailioDomains?: string[]
  /** SAN IPs of the Kamailio certificate. @defaultValue ['127.0.0.2'] */
  kamailioIps?: string[]
  /** SAN DNS name of Parley's edge certificate. @defaultValue 'parley.test' */
  parleyDomain?: string
  /** SAN IPs of Parley's edge certificate. @defaultValue ['127.0.0.1'] */
  parleyIps?: string[]
  /** Validity in days. @defaultValue 2 */
  days?: number
}

export interface TestCa {
  /** The temp directory holding every file. */
  readonly dir: string
  /** The CA certificate, PEM file (for `ca_list`, `ca:`). */
  readonly caFile: string
  /** The CA certificate, PEM. */
  readonly ca: string
  readonly kamailio: CertFiles
  readonly parley: CertFiles
  /** Signed by another CA: any verifier trusting only `ca` must refuse it. */
  readonly rogue: CertFiles
  /** The CA that signed `rogue`. */
  readonly rogueCaFile: string
  /** A new certificate signed by the CA; `name` names the files. */
  issue(name: string, subject: CertSubject): Promise<CertFiles>
  /** Deletes the directory now (it is deleted at process exit anyway). */
  remove(): void
}

const liveDirs = new Set<string>()
let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    if (process.env.PARLEY_KEEP_PEERS) return
    for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true })
  })
}

/** Creates a CA and the standard certificates (kamailio, parley, rogue). */
export async function createTestCa(options: TestCaOptions = {}): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-ca-'))
  installExitHook()
  liveDirs.add(dir)
  const days = String(options.days ?? 2)
  try {
    const [ca, rogueCa] = await Promise.all([
      makeCa(dir, 'ca', 'Parley Test CA', days),
      makeCa(dir, 'rogue-ca', 'Rogue Test CA', days),
    ])
    const issue = (name: string, subject: CertSubject) => signLeaf(dir, ca, name, subject, days)
    const parleySubject: CertSubject = {
      dns: [options.parleyDomain ?? 'parley.test'],
      ips: options.parleyIps ?? ['127.0.0.1'],
    }
    const [kamailio, parley, rogue] = await Promise.all([
      issue('kamailio', {
        dns: options.kamailioDomains ?? ['aol.test', 'yahoo.test', 'live.test'],
        ips: options.kamailioIps ?? ['127.0.0.2'],
      }),
      issue('parley', parleySubject),
      signLeaf(dir, rogueCa, 'rogue', parleySubject, days),
    ])
    return {
      dir,
      caFile: ca.certFile,
      ca: ca.cert,
      kamailio,
      parley,
      rogue,
      rogueCaFile: rogueCa.certFile,
      issue,
      remove() {
        liveDirs.delete(dir)
        if (!process.env.PARLEY_KEEP_PEERS) rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (err) {
    liveDirs.delete(dir)
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd: dir, timeout: 20_000 })
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? ''
    throw new Error(`openssl ${args.join(' ')} failed: ${stderr || String(err)}`)
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

async function makeCa(dir: string, name: string, cn: string, days: string): Promise<CertFiles> {
  const certFile = join(dir, `${name}.crt`)
  const keyFile = join(dir, `${name}.key`)
  await openssl(dir, [
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    days,
    '-subj',
    `/O=Parley tests/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ])
  return readPair(certFile, keyFile)
}

async function signLeaf(
  dir: string,
  ca: CertFiles,
  name: string,
  subject: CertSubject,
  days: string,
): Promise<CertFiles> {
  if (!/^[\w.-]+$/.test(name)) throw new Error(`certificate name ${name}: use [A-Za-z0-9_.-]`)
  const certFile = join(dir, `${name}.crt`)
  const keyFile = join(dir, `${name}.key`)
  const csrFile = join(dir, `${name}.csr`)
  const extFile = join(dir, `${name}.ext`)
  const sans = [
    ...(subject.dns ?? []).map((d) => `DNS:${d}`),
    ...(subject.ips ?? []).map((ip) => `IP:${ip}`),
  ]
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth,clientAuth',
  ]
  if (sans.length > 0) ext.push(`subjectAltName=${sans.join(',')}`)
  writeFileSync(extFile, `${ext.join('\n')}\n`)
  const cn = subject.commonName ?? subject.dns?.[0] ?? name
  await openssl(dir, [
    'req',
    ...EC_KEY,
    '-keyout',
    keyFile,
    '-out',
    csrFile,
    '-subj',
    `/O=Parley tests/CN=${cn}`,
  ])
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    csrFile,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-set_serial',
    `0x${randomSerial()}`,
    '-days',
    days,
    '-extfile',
    extFile,
    '-out',
    certFile,
  ])
  return readPair(certFile, keyFile)
}

function randomSerial(): string {
  // Positive 63-bit serial; distinct per certificate so no verifier confuses two.
  const bytes = randomBytes(8)
  bytes[0] = (bytes[0] ?? 0) & 0x7f
  return bytes.toString('hex')
}

function readPair(certFile: string, keyFile: string): CertFiles {
  return {
    certFile,
    keyFile,
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
  }
}
