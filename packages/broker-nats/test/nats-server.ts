/**
 * Test helpers: reachability of the shared NATS, and private nats-server processes on free
 * loopback ports (own store dir, killed and restarted by PID) for restarts and server options.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'

export const SHARED_ADDRESS = process.env.NATS_TEST_ADDRESS ?? '127.0.0.1:4222'

export function canConnect(address: string, timeoutMs = 1000): Promise<boolean> {
  const stripped = address.replace(/^[a-z]+:\/\//, '')
  const i = stripped.lastIndexOf(':')
  return new Promise((resolve) => {
    const socket = net.connect({ host: stripped.slice(0, i), port: Number(stripped.slice(i + 1)) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

export function hasNatsServer(): boolean {
  try {
    execFileSync('nats-server', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * Without the backend a test block is skipped with a loud message on a laptop, and fails under CI
 * (CI never passes by skipping). Returns true when the tests may run.
 */
export function requireBackend(available: boolean, what: string): boolean {
  if (available) return true
  const message = `broker-nats: ${what} — start NATS with JetStream (scripts/backends.sh) to run these tests`
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

export interface NatsServerOptions {
  jetstream?: boolean
  user?: string
  pass?: string
  /** Require TLS with the fixture server certificate. */
  tls?: boolean
  /** Also require a client certificate signed by the fixture CA. */
  tlsVerify?: boolean
}

/** One private nats-server on loopback. */
export class NatsServer {
  readonly storeDir = mkdtempSync(path.join(tmpdir(), 'micro-nats-test-'))
  private child?: ChildProcess

  private constructor(
    readonly port: number,
    private readonly options: NatsServerOptions,
  ) {}

  static async start(options: NatsServerOptions = {}): Promise<NatsServer> {
    const server = new NatsServer(await freePort(), options)
    await server.spawn()
    return server
  }

  get address(): string {
    return `127.0.0.1:${this.port}`
  }

  async spawn(): Promise<void> {
    const args = ['-a', '127.0.0.1', '-p', String(this.port)]
    if (this.options.jetstream !== false) args.push('-js', '-sd', this.storeDir)
    if (this.options.user) args.push('--user', this.options.user, '--pass', this.options.pass ?? '')
    if (this.options.tls)
      args.push('--tls', '--tlscert', tlsFile('server.pem'), '--tlskey', tlsFile('server-key.pem'))
    if (this.options.tlsVerify) args.push('--tlsverify', '--tlscacert', tlsFile('ca.pem'))
    const child = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000)
    })
    this.child = child
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${stderr}`)
      // "Server is ready" is logged once JetStream has recovered its store.
      if (stderr.includes('Server is ready') && (await canConnect(this.address, 200))) return
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`nats-server on ${this.address} did not start: ${stderr}`)
  }

  /** SIGKILL by PID and wait for the exit. */
  async kill(): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    process.kill(child.pid!, 'SIGKILL')
    await exited
  }

  async restart(downMs = 0): Promise<void> {
    await this.kill()
    if (downMs) await new Promise((r) => setTimeout(r, downMs))
    await this.spawn()
  }

  async stop(): Promise<void> {
    await this.kill()
    rmSync(this.storeDir, { recursive: true, force: true })
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
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`condition not met within ${timeoutMs}ms${last ? `: ${String(last)}` : ''}`)
}
