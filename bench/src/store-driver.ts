/**
 * A store load process: `node dist/store-driver.js KIND CONFIG_JSON`, KIND one of `ours-postgres`,
 * `raw-pg`, `ours-mysql`, `raw-mysql2`, `ours-redis`, `raw-ioredis`. Ours is the store plugin as
 * a service uses it; raw is the same driver the plugin is built on, on the same server, with a
 * table of the same layout (columns and indexes), doing the least SQL (or Redis) that gives the
 * answer — no expiry, no metadata, no checks: the floor.
 *
 * Line protocol: `seed` writes KEYS records of 1 KiB (`item/0000` … `item/0999`), `run {op,
 * concurrency, durationMs}` → `{calls, errors, elapsedMs, firstError}` where op is `read` (one
 * random key; its value is checked), `write` (one random key, 1 KiB) or `list` (keys with the
 * prefix `item/0N`, 100 of them; the count is checked), `reset`, `stats`, `exit` (drops what it
 * made).
 */
import { randomBytes } from 'node:crypto'
import { createLogger } from '@micro-ts/core'
import { createMySQLStore } from '@micro-ts/store-mysql'
import { createPostgresStore } from '@micro-ts/store-postgres'
import { createRedisStore } from '@micro-ts/store-redis'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import pg from 'pg'
import { LatencyLog, runLoad } from './load.js'
import { configArg, die, send, serveCommands } from './protocol.js'

/** What the orchestrator gives a store driver. */
export interface StoreConfig {
  /** Server address: a postgresql://, mysql:// or redis:// URL. */
  address: string
  /** A name unique to the run and contender: the table (SQL) or the key namespace (Redis). */
  table: string
  /** Database (PostgreSQL schema, MySQL database, our Redis store's database). */
  database: string
  /** Connections in the pool (ours and raw alike). */
  connections: number
}

export const STORE_KINDS = [
  'ours-postgres',
  'raw-pg',
  'ours-mysql',
  'raw-mysql2',
  'ours-redis',
  'raw-ioredis',
] as const
export type StoreKind = (typeof STORE_KINDS)[number]

export const KEYS = 1000
export const VALUE_BYTES = 1024
/** Keys per `list` prefix (`item/01` … `item/09`: 100 each). */
export const LISTED = 100

const keyOf = (i: number) => `item/${String(i).padStart(4, '0')}`

/** The operations, the same for every kind. */
interface Kv {
  read(key: string): Promise<Uint8Array>
  write(key: string, value: Uint8Array): Promise<void>
  list(prefix: string): Promise<string[]>
  /** Remove what the driver made. */
  drop(): Promise<void>
  close(): Promise<void>
}

function ours(kind: StoreKind, c: StoreConfig): Kv {
  const logger = createLogger('warn')
  const scope = { database: c.database, table: c.table, maxConnections: c.connections, logger }
  const store =
    kind === 'ours-postgres'
      ? createPostgresStore({ address: c.address, ...scope })
      : kind === 'ours-mysql'
        ? createMySQLStore({ address: c.address, ...scope })
        : createRedisStore({ address: c.address, database: c.database, table: c.table, logger })
  return {
    async read(key) {
      const [record] = await store.read(key)
      return record.value
    },
    write: (key, value) => store.write({ key, value }),
    list: (prefix) => store.list({ prefix }),
    async drop() {
      // The stores have no "drop table": SQL tables go with the raw driver (the names are plain
      // lowercase, so the store's mapping kept them as they are), Redis keys one by one.
      if (kind === 'ours-postgres') {
        const pool = new pg.Pool({ connectionString: c.address, max: 1 })
        await pool.query(`DROP TABLE IF EXISTS "${c.database}"."${c.table}"`).finally(() => pool.end())
      } else if (kind === 'ours-mysql') {
        const conn = await mysql.createConnection(mysqlOptions(c))
        await conn.query(`DROP TABLE IF EXISTS \`${c.database}\`.\`${c.table}\``).finally(() => conn.end())
      } else {
        for (const key of await store.list()) await store.delete(key)
      }
    },
    close: () => store.close(),
  }
}

/** mysql2 connection options from a mysql:// URL. */
function mysqlOptions(c: StoreConfig) {
  const url = new URL(c.address)
  return {
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username || 'root'),
    password: decodeURIComponent(url.password),
    charset: 'utf8mb4',
  }
}

/** PostgreSQL by hand, on a table laid out as the store's (the same columns and indexes). */
function rawPg(c: StoreConfig): Kv {
  const pool = new pg.Pool({ connectionString: c.address, max: c.connections, keepAlive: true })
  const t = `"${c.database}"."${c.table}"`
  let made: Promise<void> | undefined
  const ensure = () => {
    made ??= (async () => {
      await pool.query(`CREATE SCHEMA IF NOT EXISTS "${c.database}"`)
      await pool.query(
        `CREATE TABLE IF NOT EXISTS ${t} (key text COLLATE "C" NOT NULL PRIMARY KEY, value bytea, metadata jsonb, expiry timestamptz)`,
      )
      await pool.query(`CREATE INDEX IF NOT EXISTS "key:${c.table}" ON ${t} USING btree (key)`)
      await pool.query(`CREATE INDEX IF NOT EXISTS "metadata:${c.table}" ON ${t} USING gin (metadata)`)
      await pool.query(
        `CREATE INDEX IF NOT EXISTS "expiry:${c.table}" ON ${t} (expiry) WHERE expiry IS NOT NULL`,
      )
    })()
    return made
  }
  return {
    async read(key) {
      await ensure()
      const r = await pool.query<{ value: Buffer }>(`SELECT value FROM ${t} WHERE key = $1`, [key])
      if (!r.rows[0]) throw new Error(`${key} not found`)
      return r.rows[0].value
    },
    async write(key, value) {
      await ensure()
      await pool.query(
        `INSERT INTO ${t} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
        [key, Buffer.from(value)],
      )
    },
    async list(prefix) {
      await ensure()
      const r = await pool.query<{ key: string }>(`SELECT key FROM ${t} WHERE key LIKE $1 ORDER BY key`, [
        `${prefix}%`,
      ])
      return r.rows.map((row) => row.key)
    },
    async drop() {
      await pool.query(`DROP TABLE IF EXISTS ${t}`)
    },
    close: () => pool.end(),
  }
}

/** MySQL by hand (prepared statements, as the store uses), on a table laid out as the store's. */
function rawMysql(c: StoreConfig): Kv {
  const pool = mysql.createPool({
    ...mysqlOptions(c),
    connectionLimit: c.connections,
    maxIdle: c.connections,
    enableKeepAlive: true,
  })
  const t = `\`${c.database}\`.\`${c.table}\``
  let made: Promise<void> | undefined
  const ensure = () => {
    made ??= (async () => {
      await pool.query(`CREATE DATABASE IF NOT EXISTS \`${c.database}\` CHARACTER SET utf8mb4`)
      await pool.query(
        `CREATE TABLE IF NOT EXISTS ${t} (\`key\` VARBINARY(255) NOT NULL, \`value\` LONGBLOB NOT NULL, \`metadata\` JSON NULL, \`expiry\` DATETIME(3) NULL, PRIMARY KEY (\`key\`), KEY \`micro_expiry\` (\`expiry\`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      )
    })()
    return made
  }
  return {
    async read(key) {
      await ensure()
      const [rows] = await pool.execute<mysql.RowDataPacket[]>(
        `SELECT \`value\` FROM ${t} WHERE \`key\` = ?`,
        [key],
      )
      if (!rows[0]) throw new Error(`${key} not found`)
      return rows[0].value as Buffer
    },
    async write(key, value) {
      await ensure()
      await pool.execute(
        `INSERT INTO ${t} (\`key\`, \`value\`) VALUES (?, ?) ON DUPLICATE KEY UPDATE \`value\` = VALUES(\`value\`)`,
        [key, Buffer.from(value)],
      )
    },
    async list(prefix) {
      await ensure()
      const [rows] = await pool.execute<mysql.RowDataPacket[]>(
        `SELECT \`key\` FROM ${t} WHERE \`key\` LIKE ? ORDER BY \`key\``,
        [`${prefix}%`],
      )
      return rows.map((r) => (r.key as Buffer).toString('utf8'))
    },
    async drop() {
      await pool.query(`DROP TABLE IF EXISTS ${t}`)
    },
    close: () => pool.end(),
  }
}

/** Redis by hand: GET, SET, and a SCAN walk over the namespace (the store's COUNT, 1000), sorted. */
function rawRedis(c: StoreConfig): Kv {
  const redis = new Redis(c.address, { lazyConnect: false, maxRetriesPerRequest: 0 })
  const ns = `bench-raw:${c.table}/`
  const scan = async (prefix: string) => {
    const keys: string[] = []
    let cursor = '0'
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${ns}${prefix}*`, 'COUNT', 1000)
      cursor = next
      for (const k of found) keys.push(k.slice(ns.length))
    } while (cursor !== '0')
    return [...new Set(keys)].sort()
  }
  return {
    async read(key) {
      const v = await redis.getBuffer(ns + key)
      if (!v) throw new Error(`${key} not found`)
      return v
    },
    async write(key, value) {
      await redis.set(ns + key, Buffer.from(value))
    },
    list: scan,
    async drop() {
      const keys = await scan('')
      for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500).map((k) => ns + k))
    },
    async close() {
      await redis.quit()
    },
  }
}

function create(kind: StoreKind, config: StoreConfig): Kv {
  switch (kind) {
    case 'raw-pg':
      return rawPg(config)
    case 'raw-mysql2':
      return rawMysql(config)
    case 'raw-ioredis':
      return rawRedis(config)
    default:
      return ours(kind, config)
  }
}

async function main() {
  const kind = process.argv[2] as StoreKind
  if (!STORE_KINDS.includes(kind))
    throw new Error(`unknown store driver ${kind}; one of ${STORE_KINDS.join(', ')}`)
  const config = configArg<StoreConfig>()
  const kv = create(kind, config)
  const value = new Uint8Array(randomBytes(VALUE_BYTES))
  const log = new LatencyLog()
  serveCommands(
    {
      async seed() {
        for (let i = 0; i < KEYS; i += 50) {
          await Promise.all(
            Array.from({ length: Math.min(50, KEYS - i) }, (_, j) => kv.write(keyOf(i + j), value)),
          )
        }
        return { ok: true }
      },
      async run(c) {
        const op = String(c.op)
        const one =
          op === 'read'
            ? async () => {
                const v = await kv.read(keyOf(Math.floor(Math.random() * KEYS)))
                if (v.byteLength !== VALUE_BYTES)
                  throw new Error(`read ${v.byteLength} bytes, wrote ${VALUE_BYTES}`)
              }
            : op === 'write'
              ? () => kv.write(keyOf(Math.floor(Math.random() * KEYS)), value)
              : async () => {
                  const keys = await kv.list(`item/0${1 + Math.floor(Math.random() * 9)}`)
                  if (keys.length !== LISTED)
                    throw new Error(`listed ${keys.length} keys, expected ${LISTED}`)
                }
        if (op !== 'read' && op !== 'write' && op !== 'list') throw new Error(`unknown op ${op}`)
        return runLoad(
          one,
          { concurrency: Number(c.concurrency ?? 1), durationMs: Number(c.durationMs) },
          log,
        )
      },
      reset() {
        log.reset()
        return { ok: true }
      },
      stats: () => log.stats(),
    },
    async () => {
      await kv.drop().catch((e) => console.error(`drop failed: ${(e as Error).message}`))
      await kv.close()
    },
  )
  send({ ready: true })
}

main().catch(die)
