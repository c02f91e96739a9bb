/**
 * Test helpers: reachability of the shared server (skip loudly on a laptop, fail under CI), and a
 * private redis-server on a free loopback port for the tests that stop and start a server.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { Redis } from 'ioredis'

/** The shared test server (DESIGN §6). */
export const REDIS_URL = process.env.MICRO_TEST_REDIS_URL || 'redis://127.0.0.1:6379'

/** A raw client that gives up at once instead of reconnecting (tests only). */
export function rawClient(url: string): Redis {
  return new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 3000,
  })
}

/** Why the server at `url` cannot be used, or undefined when it answers. */
export async function probe(url: string): Promise<string | undefined> {
  const client = rawClient(url)
  client.on('error', () => {})
  try {
    await client.connect()
    await client.ping()
    return undefined
  } catch (err) {
    return `Redis at ${url} is unreachable (${(err as Error).message})`
  } finally {
    client.disconnect()
  }
}

/** True when the server answers; false (after a loud warning) when it does not and CI is unset; throws under CI. */
export async function reachable(url: string, what: string): Promise<boolean> {
  const why = await probe(url)
  if (!why) return true
  if (process.env.CI) throw new Error(`${what}: ${why}; CI is set, so this suite fails instead of skipping`)
  console.warn(
    `\n!!! SKIPPING ${what} TESTS: ${why}. Start Redis (or set MICRO_TEST_REDIS_URL) to run them.\n`,
  )
  return false
}

/** Delete every key matching `pattern` (SCAN, never KEYS). */
export async function deleteMatching(url: string, pattern: string): Promise<void> {
  const client = rawClient(url)
  await client.connect()
  try {
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await client.del(...keys)
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Why a private server cannot be started here, or undefined when it can. */
export function privateServerUnavailable(): string | undefined {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    return undefined
  } catch {
    return 'redis-server is not installed'
  }
}

/** A private redis-server (no persistence) on a free loopback port, started and stopped by the test. */
export class PrivateRedis {
  readonly port: number
  private readonly dir: string
  private readonly args: string[]
  private proc: ChildProcess | undefined

  private constructor(port: number, args: string[]) {
    this.port = port
    this.args = args
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'micro-redis-'))
  }

  /** `args` are extra redis-server arguments, e.g. `['--requirepass', 'secret']`. */
  static async create(args: string[] = []): Promise<PrivateRedis> {
    const server = new PrivateRedis(await freePort(), args)
    await server.start()
    return server
  }

  url(auth = ''): string {
    return `redis://${auth ? `${auth}@` : ''}127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    this.proc = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
        ...this.args,
      ],
      { stdio: 'ignore' },
    )
    const deadline = Date.now() + 10_000
    while (!(await listening(this.port))) {
      if (Date.now() > deadline) throw new Error('private redis-server did not start')
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /** Stop the server with SIGKILL (a crash: nothing is saved, every connection drops). */
  async stop(): Promise<void> {
    const proc = this.proc
    this.proc = undefined
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise((resolve) => proc.once('exit', resolve))
    proc.kill('SIGKILL')
    await exited
  }

  async destroy(): Promise<void> {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** A TCP server that accepts connections and never says a word: a server that hangs. */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
