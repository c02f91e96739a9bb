/**
 * Test helpers: reachability of the shared server (skip loudly on a laptop, fail under CI), and a
 * private PostgreSQL instance on a free loopback port for the tests that stop and start a server.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'

/** The shared test server: trust auth, database `test` (DESIGN §6). */
export const POSTGRES_URL = process.env.MICRO_TEST_POSTGRES_URL || 'postgresql://postgres@127.0.0.1:5432/test'

/** Why the server at `url` cannot be used, or undefined when it answers. */
export async function probe(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return undefined
  } catch (err) {
    return `PostgreSQL at ${url} is unreachable (${(err as Error).message})`
  } finally {
    await client.end().catch(() => {})
  }
}

/** True when the server answers; false (after a loud warning) when it does not and CI is unset; throws under CI. */
export async function reachable(url: string, what: string): Promise<boolean> {
  const why = await probe(url)
  if (!why) return true
  if (process.env.CI) throw new Error(`${what}: ${why}; CI is set, so this suite fails instead of skipping`)
  console.warn(
    `\n!!! SKIPPING ${what} TESTS: ${why}. Start PostgreSQL (or set MICRO_TEST_POSTGRES_URL) to run them.\n`,
  )
  return false
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A raw client for checking what the store wrote. */
export async function rawQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<R>(text, params)).rows
  } finally {
    await client.end()
  }
}

function binDir(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a))
    if (versions.length > 0) return path.join(root, versions[0], 'bin')
  }
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim()
  } catch {
    return undefined
  }
}

/** initdb and postgres refuse to run as root: as root, run them as the `postgres` system user. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
    return { uid, gid }
  } catch {
    return undefined
  }
}

/** Why a private server cannot be started here, or undefined when it can. */
export function privateServerUnavailable(): string | undefined {
  if (!binDir()) return 'no PostgreSQL server binaries (initdb) found'
  if (process.getuid?.() === 0 && !runAs())
    return 'running as root and there is no `postgres` user to run initdb as'
  return undefined
}

/**
 * A private PostgreSQL cluster on a free loopback port, started and stopped by the test. The
 * `postgres` role is trusted; every other role must give its password (scram-sha-256).
 */
export class PrivatePostgres {
  readonly port: number
  private readonly dir: string
  private readonly bin: string
  private readonly user = runAs()
  private proc: ChildProcess | undefined

  private constructor(port: number) {
    this.port = port
    this.bin = binDir()!
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'micro-pg-'))
    if (this.user) chownSync(this.dir, this.user.uid, this.user.gid)
  }

  static async create(): Promise<PrivatePostgres> {
    const server = new PrivatePostgres(await freePort())
    const data = path.join(server.dir, 'data')
    execFileSync(
      path.join(server.bin, 'initdb'),
      ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'],
      { stdio: 'ignore', ...server.user },
    )
    const hba = [
      'local all all trust',
      'host all postgres 127.0.0.1/32 trust',
      'host all all 127.0.0.1/32 scram-sha-256',
    ].join('\n')
    writeFileSync(path.join(data, 'pg_hba.conf'), `${hba}\n`)
    if (server.user) chownSync(path.join(data, 'pg_hba.conf'), server.user.uid, server.user.gid)
    await server.start()
    return server
  }

  url(user = 'postgres', password?: string): string {
    const auth = password === undefined ? user : `${user}:${encodeURIComponent(password)}`
    return `postgresql://${auth}@127.0.0.1:${this.port}/postgres`
  }

  async start(): Promise<void> {
    this.proc = spawn(
      path.join(this.bin, 'postgres'),
      [
        '-D',
        path.join(this.dir, 'data'),
        '-p',
        String(this.port),
        '-k',
        this.dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'max_connections=40',
      ],
      { stdio: 'ignore', ...this.user },
    )
    const deadline = Date.now() + 20_000
    for (;;) {
      try {
        await rawQuery(this.url(), 'SELECT 1')
        return
      } catch (err) {
        if (Date.now() > deadline)
          throw new Error(`private postgres did not start: ${(err as Error).message}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }

  /**
   * Stop the server: `fast` (SIGINT: clients are told and disconnected) or `immediate` (SIGQUIT:
   * every process quits at once, like a crash; the next start runs crash recovery).
   */
  async stop(how: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const proc = this.proc
    this.proc = undefined
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise((resolve) => proc.once('exit', resolve))
    proc.kill(how === 'immediate' ? 'SIGQUIT' : 'SIGINT')
    await exited
    for (let i = 0; i < 100 && (await listening(this.port)); i++) await new Promise((r) => setTimeout(r, 50))
  }

  async destroy(): Promise<void> {
    await this.stop('fast')
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
