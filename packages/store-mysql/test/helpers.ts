import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createConnection } from 'mysql2/promise'

/** The server the tests use: `MYSQL_TEST_ADDRESS`, else the local MariaDB's `test` database. */
export const ADDRESS = process.env.MYSQL_TEST_ADDRESS || 'mysql://root@127.0.0.1:3306/test'

/** True when `CI` is set to anything but an empty string, `0` or `false` (as the conformance suites read it). */
export function inCI(): boolean {
  const ci = process.env.CI
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false'
}

/**
 * Whether the test server answers. When it does not, the suite is skipped with a loud message on
 * a developer's machine, and fails when `CI` is set: CI never passes by skipping.
 */
export async function serverReachable(address = ADDRESS): Promise<boolean> {
  try {
    const c = await createConnection({ uri: address.replace(/^mariadb:/, 'mysql:'), connectTimeout: 3000 })
    await c.end()
    return true
  } catch (err) {
    const why = `MySQL/MariaDB at ${address} is unreachable (${(err as Error).message})`
    if (inCI()) throw new Error(`${why}; CI is set, so this is a failure, not a skip`)
    console.warn(`\n!!! SKIPPING store-mysql tests: ${why}. Start the server or set MYSQL_TEST_ADDRESS.\n`)
    return false
  }
}

/** For the conformance suite: false when the server answers, else the reason to skip (the suite fails it under CI). */
export async function probe(address = ADDRESS): Promise<string | false> {
  try {
    const c = await createConnection({ uri: address, connectTimeout: 3000 })
    await c.end()
    return false
  } catch (err) {
    return `MySQL/MariaDB at ${address} is unreachable (${(err as Error).message})`
  }
}

/** Run SQL as root on the test server, outside the store (setup and checks). */
export async function admin<T = unknown>(statement: string, params: unknown[] = []): Promise<T> {
  const c = await createConnection({ uri: ADDRESS, dateStrings: true })
  try {
    const [rows] = await c.query(statement, params)
    return rows as T
  } finally {
    await c.end()
  }
}

/** A name unique to this run, so runs never see each other's tables. */
export function runId(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : undefined
}

/**
 * A private MariaDB server on a free loopback port with its own data directory, for tests that
 * kill and restart the server. Undefined when MariaDB's binaries are not installed.
 */
export class PrivateMariaDB {
  readonly port: number
  readonly dir: string
  private child: ReturnType<typeof spawn> | undefined

  static available(): boolean {
    return which('mariadbd') !== undefined && which('mariadb-install-db') !== undefined
  }

  static async create(): Promise<PrivateMariaDB> {
    const dir = mkdtempSync(join(tmpdir(), 'micro-mysql-'))
    const r = spawnSync(
      'mariadb-install-db',
      [
        '--no-defaults',
        `--datadir=${join(dir, 'data')}`,
        `--user=${process.getuid?.() === 0 ? 'root' : (process.env.USER ?? 'root')}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
      ],
      { encoding: 'utf8' },
    )
    if (r.status !== 0) throw new Error(`mariadb-install-db failed: ${r.stderr || r.stdout}`)
    return new PrivateMariaDB(await freePort(), dir)
  }

  private constructor(port: number, dir: string) {
    this.port = port
    this.dir = dir
  }

  get address(): string {
    return `mysql://root@127.0.0.1:${this.port}/test`
  }

  async start(): Promise<void> {
    this.child = spawn(
      'mariadbd',
      [
        '--no-defaults',
        `--datadir=${join(this.dir, 'data')}`,
        `--socket=${join(this.dir, 'sock')}`,
        `--pid-file=${join(this.dir, 'pid')}`,
        `--port=${this.port}`,
        '--bind-address=127.0.0.1',
        '--skip-log-bin',
        '--innodb-buffer-pool-size=16M',
        ...(process.getuid?.() === 0 ? ['--user=root'] : []),
      ],
      { stdio: 'ignore' },
    )
    const deadline = Date.now() + 20_000
    for (;;) {
      try {
        const c = await createConnection({
          host: '127.0.0.1',
          port: this.port,
          user: 'root',
          connectTimeout: 1000,
        })
        await c.query('CREATE DATABASE IF NOT EXISTS test')
        await c.end()
        return
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`private MariaDB did not start: ${(err as Error).message}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }

  /** SIGKILL: the server dies at once, as in a crash. */
  async kill(): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGKILL')
    await exited
    this.child = undefined
  }

  async destroy(): Promise<void> {
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** A TCP server that accepts connections and never says a word: a server that hangs. */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<import('node:net').Socket>()
  const server = createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
