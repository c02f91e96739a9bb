import { type Logger, MicroError, STORE_ERROR_ID } from '@micro-ts/core'

export interface PostgresStoreOptions {
  /**
   * A PostgreSQL URL, credentials included: `postgresql://user:password@host:5432/dbname?sslmode=require`.
   * A bare `host` or `host:port` means `postgresql://postgres@host:port/postgres`.
   * Default {@link DEFAULT_ADDRESS}.
   */
  address?: string
  /** Database (a PostgreSQL schema) used when a call names none. Default `micro`, as go-micro. */
  database?: string
  /** Table used when a call names none. Default `micro`, as go-micro. */
  table?: string
  /** Most connections the pool opens. Default 10. */
  maxConnections?: number
  /** An idle pooled connection is closed after this many milliseconds. Default 30 000. */
  idleTimeout?: number
  /**
   * How long an operation waits for a connection, in milliseconds, including the retries while
   * the server is down or restarting; after that it fails with a 503. Default 5000.
   */
  connectTimeout?: number
  /** Each statement is cancelled by the server after this many milliseconds (0: no limit). Default 30 000. */
  statementTimeout?: number
  /** How often expired rows are deleted in the background, in ms (0 turns the sweep off). Default 60 000. */
  sweepInterval?: number
  /** Where connection problems and sweep failures are logged. Default: silent. */
  logger?: Logger
}

/** Options after defaults: what the pool and the store are built from. */
export interface ResolvedPostgresOptions {
  /** The URL handed to `pg`, credentials included. */
  connectionString: string
  /** The same URL with the password masked, for messages and logs. */
  displayAddress: string
  database: string
  table: string
  maxConnections: number
  idleTimeout: number
  connectTimeout: number
  statementTimeout: number
  sweepInterval: number
}

/**
 * The address used when none is given. go-micro defaults to a local CockroachDB
 * (`postgresql://root@localhost:26257`); this package defaults to a stock local PostgreSQL: the
 * `postgres` role and database, which every installation has.
 */
export const DEFAULT_ADDRESS = 'postgresql://postgres@127.0.0.1:5432/postgres'
export const DEFAULT_DATABASE = 'micro'
export const DEFAULT_TABLE = 'micro'
export const DEFAULT_MAX_CONNECTIONS = 10
export const DEFAULT_IDLE_TIMEOUT = 30_000
export const DEFAULT_CONNECT_TIMEOUT = 5000
export const DEFAULT_STATEMENT_TIMEOUT = 30_000
export const DEFAULT_SWEEP_INTERVAL = 60_000

function badOption(detail: string): MicroError {
  return new MicroError(STORE_ERROR_ID, 400, `postgres store: ${detail}`)
}

function count(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw badOption(`${name} must be an integer >= ${min}, got ${String(value)}`)
  }
  return value
}

/** Parse the address and fill in defaults. Throws a 400 MicroError for a malformed address or option. */
export function resolveOptions(options: PostgresStoreOptions = {}): ResolvedPostgresOptions {
  const raw = (options.address ?? '').trim() || DEFAULT_ADDRESS
  let url: URL
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `postgresql://postgres@${raw}/postgres`)
  } catch {
    throw badOption(
      `invalid address ${JSON.stringify(redact(raw))}: expected postgresql://user:password@host:port/dbname`,
    )
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') {
    throw badOption(
      `invalid address ${JSON.stringify(redact(raw))}: the scheme must be postgresql:// or postgres://`,
    )
  }
  return {
    connectionString: url.href,
    displayAddress: redact(url.href),
    database: options.database || DEFAULT_DATABASE,
    table: options.table || DEFAULT_TABLE,
    maxConnections: count('maxConnections', options.maxConnections, DEFAULT_MAX_CONNECTIONS, 1),
    idleTimeout: count('idleTimeout', options.idleTimeout, DEFAULT_IDLE_TIMEOUT, 0),
    connectTimeout: count('connectTimeout', options.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 1),
    statementTimeout: count('statementTimeout', options.statementTimeout, DEFAULT_STATEMENT_TIMEOUT, 0),
    sweepInterval: count('sweepInterval', options.sweepInterval, DEFAULT_SWEEP_INTERVAL, 0),
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
