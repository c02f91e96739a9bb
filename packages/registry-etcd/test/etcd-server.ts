/**
 * Test helpers: reachability of the shared etcd, and private etcd servers on free loopback
 * ports (own data dir, killed by PID) for the tests that stop, wipe or reconfigure a server.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import https from 'node:https'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'

export const SHARED_ADDRESS = process.env.ETCD_TEST_ADDRESS ?? '127.0.0.1:2379'

export function canConnect(address: string, timeoutMs = 1000): Promise<boolean> {
  const [host, port] = splitHostPort(address)
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: Number(port) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

function splitHostPort(address: string): [string, string] {
  const stripped = address.replace(/^https?:\/\//, '')
  const i = stripped.lastIndexOf(':')
  return [stripped.slice(0, i), stripped.slice(i + 1)]
}

export function hasEtcdBinary(): boolean {
  try {
    execFileSync('etcd', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * Without the backend a test file is skipped with a loud message on a laptop, and fails under CI
 * (CI never passes by skipping). Returns true when the tests may run.
 */
export function requireBackend(available: boolean, what: string): boolean {
  if (available) return true
  const message = `registry-etcd: ${what} — start etcd (scripts/backends.sh) to run these tests`
  if (process.env.CI) throw new Error(`${message} (CI is set: not skipping)`)
  console.warn(`\n\n  !!! SKIPPED: ${message}\n\n`)
  return false
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Test certificates: a CA, a server certificate for 127.0.0.1, a client certificate. */
export const TLS_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'tls')
export const tlsFile = (name: string) => path.join(TLS_DIR, name)

export interface EtcdServerOptions {
  /** Serve clients over TLS with the fixture server certificate. */
  tls?: boolean
  /** Also require a client certificate signed by the fixture CA. */
  clientCertAuth?: boolean
}

/** One private etcd member on loopback. */
export class EtcdServer {
  readonly dataRoot = mkdtempSync(path.join(tmpdir(), 'micro-etcd-test-'))
  private child?: ChildProcess
  private constructor(
    readonly clientPort: number,
    readonly peerPort: number,
    private readonly options: EtcdServerOptions,
  ) {}

  static async start(options: EtcdServerOptions = {}): Promise<EtcdServer> {
    const server = new EtcdServer(await freePort(), await freePort(), options)
    await server.spawn()
    return server
  }

  /** `https://127.0.0.1:<port>` with TLS, else `http://…`. */
  get url(): string {
    return `${this.options.tls ? 'https' : 'http'}://${this.address}`
  }

  get address(): string {
    return `127.0.0.1:${this.clientPort}`
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  private get dataDir(): string {
    return path.join(this.dataRoot, 'data')
  }

  async spawn(): Promise<void> {
    const client = this.url
    const peer = `http://127.0.0.1:${this.peerPort}`
    const tlsArgs = this.options.tls
      ? ['--cert-file', tlsFile('server.pem'), '--key-file', tlsFile('server-key.pem')]
      : []
    if (this.options.clientCertAuth)
      tlsArgs.push('--client-cert-auth', '--trusted-ca-file', tlsFile('ca.pem'))
    const child = spawn(
      'etcd',
      [
        ...tlsArgs,
        '--name',
        'test',
        '--data-dir',
        this.dataDir,
        '--listen-client-urls',
        client,
        '--advertise-client-urls',
        client,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `test=${peer}`,
        '--log-level',
        'error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    let stderr = ''
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000)
    })
    this.child = child
    const deadline = Date.now() + 15_000
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}: ${stderr}`)
      if (await this.healthy()) return
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`etcd on ${this.address} did not become healthy: ${stderr}`)
  }

  private healthy(): Promise<boolean> {
    if (!this.options.tls) {
      return fetch(`http://${this.address}/health`)
        .then(async (r) => r.ok && ((await r.json()) as { health?: string }).health === 'true')
        .catch(() => false)
    }
    return new Promise((resolve) => {
      const req = https.get(
        `${this.url}/health`,
        {
          ca: readFileSync(tlsFile('ca.pem')),
          cert: readFileSync(tlsFile('client.pem')),
          key: readFileSync(tlsFile('client-key.pem')),
        },
        (res) => {
          let body = ''
          res.on('data', (d) => {
            body += d
          })
          res.on('end', () => resolve(res.statusCode === 200 && body.includes('"health":"true"')))
        },
      )
      req.on('error', () => resolve(false))
      req.setTimeout(1000, () => req.destroy())
    })
  }

  /** SIGKILL by PID and wait for the exit: no graceful shutdown. */
  async kill(): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    process.kill(child.pid!, 'SIGKILL')
    await exited
  }

  /** Kill and start again on the same ports; `wipe` throws the data away first (a new, empty etcd). */
  async restart(options: { wipe?: boolean; downMs?: number } = {}): Promise<void> {
    await this.kill()
    if (options.wipe) rmSync(this.dataDir, { recursive: true, force: true })
    if (options.downMs) await new Promise((r) => setTimeout(r, options.downMs))
    await this.spawn()
  }

  async stop(): Promise<void> {
    await this.kill()
    rmSync(this.dataRoot, { recursive: true, force: true })
  }
}

/** Poll `check` until it returns a value other than undefined/false, or fail after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v as T
    } catch (err) {
      last = err
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`condition not met within ${timeoutMs}ms${last ? `: ${String(last)}` : ''}`)
}
