/**
 * Throwaway TLS material for tests: a CA, a server certificate for 127.0.0.1/localhost signed by
 * it, and a client certificate, made with the machine's `openssl` in a temporary directory.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

export interface TestCertificates {
  /** The directory the files are in (removed by nobody: it is under the OS temp directory). */
  dir: string
  /** Paths of the PEM files. */
  files: { ca: string; caKey: string; cert: string; key: string; clientCert: string; clientKey: string }
  /** The same as PEM text. */
  ca: string
  cert: string
  key: string
  clientCert: string
  clientKey: string
}

let cached: TestCertificates | undefined

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
}

/**
 * Make (once per process) a CA and two certificates it signs: a server certificate with
 * `subjectAltName` 127.0.0.1, ::1 and localhost, and a client certificate (CN `micro-test-client`).
 * RSA 2048, valid for 2 days. Needs `openssl` on PATH.
 */
export function testCertificates(): TestCertificates {
  if (cached) return cached
  const dir = mkdtempSync(path.join(tmpdir(), 'micro-tls-'))
  const days = '2'
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca-key.pem',
      '-out',
      'ca.pem',
      '-days',
      days,
      '-subj',
      '/CN=micro-test-ca',
    ],
    dir,
  )
  writeFileSync(
    path.join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  )
  writeFileSync(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n')
  for (const [name, cn] of [
    ['server', 'localhost'],
    ['client', 'micro-test-client'],
  ] as const) {
    openssl(
      [
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${name}-key.pem`,
        '-out',
        `${name}.csr`,
        '-subj',
        `/CN=${cn}`,
      ],
      dir,
    )
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca-key.pem',
        '-CAcreateserial',
        '-out',
        `${name}.pem`,
        '-days',
        days,
        '-extfile',
        `${name}.ext`,
      ],
      dir,
    )
  }
  const file = (name: string) => path.join(dir, name)
  const files = {
    ca: file('ca.pem'),
    caKey: file('ca-key.pem'),
    cert: file('server.pem'),
    key: file('server-key.pem'),
    clientCert: file('client.pem'),
    clientKey: file('client-key.pem'),
  }
  const read = (p: string) => readFileSync(p, 'utf8')
  cached = {
    dir,
    files,
    ca: read(files.ca),
    cert: read(files.cert),
    key: read(files.key),
    clientCert: read(files.clientCert),
    clientKey: read(files.clientKey),
  }
  return cached
}
