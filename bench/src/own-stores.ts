/**
 * Database servers of the run's own for the store rows, started as children so that they run at
 * the run's priority (shield.ts) and serve nobody else. The machine's PostgreSQL, MariaDB and Redis
 * run at the normal priority, so a CPU hog took its share from them and moved the store ratios
 * between a quiet run and a busy one (runs I and J: 9 of the 12 ratios that agreed in neither
 * direction were store rows).
 *
 * Each is the conformance package's private server (a fresh, empty one in a temporary folder; as
 * root, PostgreSQL runs as `postgres`), started before its backend's rows and removed after them.
 * The test servers are set up to start fast and small; here they get back the settings of the
 * machine's own that change what a query costs: durable commits and 100 connections for
 * PostgreSQL, a 128 MiB buffer pool and utf8mb4 for MariaDB. Redis keeps nothing on disk in both.
 */
import type { PrivateServer } from '@micro-ts/conformance/testing'
import { MariaDBServer } from '@micro-ts/conformance/testing/mariadb'
import { PostgresServer } from '@micro-ts/conformance/testing/postgres'
import { RedisServer } from '@micro-ts/conformance/testing/redis'
import type { Backend } from './stores.js'

export interface OwnServer {
  /** Its address, a URL as BENCH_<NAME>_URL takes it. */
  url: string
  /** What it is, for the report: "PostgreSQL". */
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

/** Each backend: how to start its server like the machine's, its URL, and how to ask its version. */
const SERVERS: Record<
  Backend,
  {
    unavailable(): string | undefined
    start(): Promise<PrivateServer & { url(): string }>
    label: string
  }
> = {
  postgres: {
    unavailable: () => PostgresServer.unavailable(),
    start: () => PostgresServer.start({ settings: { fsync: 'on', max_connections: '100' } }),
    label: 'PostgreSQL',
  },
  mysql: {
    unavailable: () => (MariaDBServer.available() ? undefined : 'MariaDB (mariadbd) is not installed'),
    start: () =>
      MariaDBServer.start({
        args: [
          '--innodb-buffer-pool-size=128M',
          '--character-set-server=utf8mb4',
          '--collation-server=utf8mb4_general_ci',
        ],
      }),
    label: 'MariaDB',
  },
  redis: {
    unavailable: () => (RedisServer.available() ? undefined : 'redis-server is not installed'),
    start: () => RedisServer.start(),
    label: 'Redis',
  },
}

/** Start a server of the run's own for `backend`, or say why it could not be. */
export async function startOwnStore(backend: Backend): Promise<OwnServer | NoOwnServer> {
  const kind = SERVERS[backend]
  const missing = kind.unavailable()
  if (missing) return { missing }
  let server: (PrivateServer & { url(): string }) | undefined
  try {
    server = await kind.start()
    const own = server
    return { url: own.url(), what: kind.label, pid: own.pid, stop: () => own.stop() }
  } catch (e) {
    await server?.stop()
    return { missing: (e as Error).message.split('\n')[0].slice(0, 300) }
  }
}
