import { type Logger, MicroError, STORE_ERROR_ID } from '@micro-ts/core'
import type { SslOptions } from 'mysql2'

export interface MySQLStoreOptions {
  /**
   * A MySQL URL, credentials included: `mysql://user:password@host:3306/database`.
   * `mariadb://` is accepted too; a bare `host` or `host:port` means `mysql://root@host:port`.
   * The path's database, when present, is the default database (see {@link database}).
   * Default {@link DEFAULT_ADDRESS}.
   */
  address?: string
  /**
   * MySQL database used when a call names none. Precedence: this option, then the address's
   * path, then `micro` (go-micro's default).
   */
  database?: string
  /** Table used when a call names none. Default `micro`, as go-micro. */
  table?: string
  /** Most connections the pool opens. Default 10. */
  maxConnections?: number
  /** An idle pooled connection is closed after this many milliseconds. Default 30 000. */
  idleTimeout?: number
  /** How long opening one connection may take, in milliseconds; after that it fails with a 503. Default 5000. */
  connectTimeout?: number
  /** How often expired rows are deleted in the background, in ms (0 turns the sweep off). Default 60 000. */
  sweepInterval?: number
  /** TLS settings handed to mysql2 (`ssl`); off unless given. */
  ssl?: SslOptions
  /** Where connection problems and sweep failures are logged. Default: silent. */
  logger?: Logger
}

/** Options after defaults: what the pool and the store are built from. */
export interface ResolvedMySQLOptions {
  host: string
  port: number
  user: string
  password: string | undefined
  /** The address with its password masked, for messages and logs. */
  displayAddress: string
  database: string
  table: string
  maxConnections: number
  idleTimeout: number
  connectTimeout: number
  sweepInterval: number
  ssl: SslOptions | undefined
}

/** The address used when none is given: a stock local MySQL/MariaDB as root. */
export const DEFAULT_ADDRESS = 'mysql://root@127.0.0.1:3306'
export const DEFAULT_DATABASE = 'micro'
export const DEFAULT_TABLE = 'micro'
export const DEFAULT_MAX_CONNECTIONS = 10
export const DEFAULT_IDLE_TIMEOUT = 30_000
export const DEFAULT_CONNECT_TIMEOUT = 5000
export const DEFAULT_SWEEP_INTERVAL = 60_000

function badOption(detail: string): MicroError {
  return new MicroError(STORE_ERROR_ID, 400, `mysql store: ${detail}`)
}

function count(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw badOption(`${name} must be an integer >= ${min}, got ${String(value)}`)
  }
  return value
}

function decode(part: string, what: string, raw: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    throw badOption(
      `invalid address ${JSON.stringify(redact(raw))}: the ${what} is not valid percent-encoding`,
    )
  }
}

/** Parse the address and fill in defaults. Throws a 400 MicroError for a malformed address or option. */
export function resolveOptions(options: MySQLStoreOptions = {}): ResolvedMySQLOptions {
  const raw = (options.address ?? '').trim() || DEFAULT_ADDRESS
  let url: URL
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `mysql://root@${raw}`)
  } catch {
    throw badOption(
      `invalid address ${JSON.stringify(redact(raw))}: expected mysql://user:password@host:port/database`,
    )
  }
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') {
    throw badOption(
      `invalid address ${JSON.stringify(redact(raw))}: the scheme must be mysql:// or mariadb://`,
    )
  }
  if (!url.hostname) throw badOption(`invalid address ${JSON.stringify(redact(raw))}: no host`)
  const port = url.port ? Number(url.port) : 3306
  const pathDatabase = decode(url.pathname.replace(/^\//, ''), 'database', raw)
  if (pathDatabase.includes('/')) {
    throw badOption(`invalid address ${JSON.stringify(redact(raw))}: the path must be one database name`)
  }
  if (options.database !== undefined && typeof options.database !== 'string') {
    throw badOption('database must be a string')
  }
  if (options.table !== undefined && typeof options.table !== 'string')
    throw badOption('table must be a string')
  return {
    // URL keeps IPv6 literals in brackets; the socket wants them bare.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    user: url.username ? decode(url.username, 'user name', raw) : 'root',
    password: url.password ? decode(url.password, 'password', raw) : undefined,
    displayAddress: redact(url.href),
    database: options.database || pathDatabase || DEFAULT_DATABASE,
    table: options.table || DEFAULT_TABLE,
    maxConnections: count('maxConnections', options.maxConnections, DEFAULT_MAX_CONNECTIONS, 1),
    idleTimeout: count('idleTimeout', options.idleTimeout, DEFAULT_IDLE_TIMEOUT, 0),
    connectTimeout: count('connectTimeout', options.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 1),
    sweepInterval: count('sweepInterval', options.sweepInterval, DEFAULT_SWEEP_INTERVAL, 0),
    ssl: options.ssl,
  }
}

/** The address with its password replaced by `***`, safe to print. */
export function redact(address: string): string {
  try {
    const url = new URL(address)
    if (url.password) url.password = '***'
    return url.href
  } catch {
    return address.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@')
  }
}
