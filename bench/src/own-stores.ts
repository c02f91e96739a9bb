/**
 * Database servers of the run's own for the store rows, started as children so that they run at
 * the run's priority (shield.ts) and serve nobody else. The machine's PostgreSQL, MariaDB and Redis
 * run at the normal priority, so a CPU hog took its share from them and moved the store ratios
 * between a quiet run and a busy one (runs I and J: 9 of the 12 ratios that agreed in neither
 * direction were store rows).
 *
 * Each is a fresh, empty server in a temporary folder, started before its backend's rows and
 * removed after them, with the settings of the machine's own that change what a query costs:
 * PostgreSQL's and MariaDB's defaults (durable commits, 128 MiB of buffers), utf8mb4 for MariaDB,
 * and a Redis that keeps nothing on disk.
 */
import { execFile } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Child, type ChildOptions } from './proc.js'
import { freePort } from './shield.js'
import type { Backend } from './stores.js'

const run = promisify(execFile)

export interface OwnServer {
  /** Its address, a URL as BENCH_<NAME>_URL takes it. */
  url: string
  /** What it is, for the report ("PostgreSQL 15.19"). */
  what: string
  /** The server's process (it inherits the run's priority). */
  pid?: number
  /** Stop it and remove its folder. */
  stop(): Promise<void>
}

/** Why a server could not be started; the caller then uses the machine's own and says so. */
export interface NoOwnServer {
  missing: string
}

/** Start a server of the run's own for `backend`, or say why it could not be. */
export async function startOwnStore(backend: Backend): Promise<OwnServer | NoOwnServer> {
  const dir = mkdtempSync(join(tmpdir(), `micro-bench-${backend}-`))
  const start = { postgres: startPostgres, mysql: startMariaDB, redis: startRedis }[backend]
  let server: Child | undefined
  try {
    const own = await start(dir, (s) => {
      server = s
    })
    return {
      ...own,
      pid: server?.pid,
      stop: async () => {
        await server?.stop()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (e) {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
    return { missing: (e as Error).message.split('\n')[0] }
  }
}

type Start = (dir: string, started: (server: Child) => void) => Promise<Pick<OwnServer, 'url' | 'what'>>

/**
 * Root may not run PostgreSQL or MariaDB: as root, the server runs as the package's own user
 * (`postgres`, `mysql`), who is given the folder. Anyone else runs it as themself.
 */
async function runAs(user: string, dir: string): Promise<ChildOptions> {
  if (process.getuid?.() !== 0) return {}
  const id = async (flag: string) => Number((await run('id', [flag, user])).stdout.trim())
  let uid: number
  let gid: number
  try {
    ;[uid, gid] = [await id('-u'), await id('-g')]
  } catch {
    throw new Error(`this run is root and there is no user ${user} to run the server as`)
  }
  chownSync(dir, uid, gid)
  return { uid, gid }
}

/** The first of `paths` that exists, else `name` (found on PATH, or failing with ENOENT). */
function binary(name: string, paths: string[]): string {
  return paths.find((p) => existsSync(p)) ?? name
}

/** Run a set-up command as the server's user; fail with its last line of output. */
async function setUp(command: string, args: string[], as: ChildOptions): Promise<void> {
  try {
    await run(command, args, { uid: as.uid, gid: as.gid, timeout: 120_000 })
  } catch (e) {
    const err = e as Error & { code?: string; stderr?: string }
    if (err.code === 'ENOENT') throw new Error(`${command} is not installed`)
    const last = (err.stderr ?? err.message).trim().split('\n').at(-1)
    throw new Error(`${command} failed: ${last}`)
  }
}

/** Wait until `probe` succeeds (the server answers queries), for up to 30 s. */
async function ready(server: Child, what: string, probe: () => Promise<unknown>): Promise<void> {
  for (let waited = 0; waited < 30_000; waited += 100) {
    if (server.pid === undefined) throw new Error(`${what} did not start: is it installed (on PATH)?`)
    if (!server.running) throw new Error(`${what} exited before it answered: ${server.lastError()}`)
    try {
      await probe()
      return
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new Error(`${what} did not answer within 30 s`)
}

/** The newest PostgreSQL server on the machine: Debian keeps each major under /usr/lib/postgresql. */
function postgresBin(name: string): string {
  const root = '/usr/lib/postgresql'
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', name)))
        .sort((a, b) => Number(b) - Number(a))
    : []
  return majors.length ? join(root, majors[0], 'bin', name) : name
}

const startPostgres: Start = async (dir, started) => {
  const as = await runAs('postgres', dir)
  const data = join(dir, 'data')
  await setUp(
    postgresBin('initdb'),
    ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync'],
    as,
  )
  const port = await freePort()
  const server = new Child(
    'own postgres',
    postgresBin('postgres'),
    ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'],
    {},
    { ...as, stopSignal: 'SIGINT' }, // fast shutdown: the rows' connections are closed by then
  )
  started(server)
  const isReady = postgresBin('pg_isready')
  await ready(server, 'postgres', () => run(isReady, ['-q', '-h', '127.0.0.1', '-p', String(port)]))
  const version = /\(PostgreSQL\) (\S+)/.exec((await run(postgresBin('postgres'), ['--version'])).stdout)?.[1]
  return { url: `postgresql://postgres@127.0.0.1:${port}/postgres`, what: `PostgreSQL ${version}` }
}

const startMariaDB: Start = async (dir, started) => {
  const as = await runAs('mysql', dir)
  const data = join(dir, 'data')
  const user = as.uid === undefined ? [] : ['--user=mysql']
  await setUp(
    'mariadb-install-db',
    [
      '--no-defaults',
      `--datadir=${data}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...user,
    ],
    {}, // it drops to --user itself
  )
  const port = await freePort()
  const server = new Child('own mariadb', binary('mariadbd', ['/usr/sbin/mariadbd']), [
    '--no-defaults',
    `--datadir=${data}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--socket=${join(dir, 'mysqld.sock')}`,
    `--pid-file=${join(dir, 'mysqld.pid')}`,
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_general_ci',
    ...user,
  ])
  started(server)
  const client = ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', 'root']
  await ready(server, 'mariadbd', () =>
    run('mariadb', [...client, '-e', 'CREATE DATABASE IF NOT EXISTS test']),
  )
  const version = (await run('mariadb', [...client, '-N', '-e', 'SELECT VERSION()'])).stdout.trim()
  return { url: `mysql://root@127.0.0.1:${port}/test`, what: `MariaDB ${version}` }
}

const startRedis: Start = async (dir, started) => {
  const port = await freePort()
  const server = new Child('own redis', 'redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
  ])
  started(server)
  await ready(server, 'redis-server', async () => {
    const { stdout } = await run('redis-cli', ['-p', String(port), 'PING'])
    if (stdout.trim() !== 'PONG') throw new Error(stdout)
  })
  const version = /v=(\S+)/.exec((await run('redis-server', ['--version'])).stdout)?.[1]
  return { url: `redis://127.0.0.1:${port}`, what: `Redis ${version}` }
}
