import type { Logger } from '@micro-ts/core'
import { option, parseOptions, parseUrl, pluginErrors, redact } from '@micro-ts/core/plugin'

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

/** The options, declared once: the plugin loader, `createPostgresStore()` and the README table use them. */
export const postgresStoreOptions = {
  address: option.string({ doc: 'PostgreSQL URL, credentials included (MICRO_STORE_ADDRESS wins over it)' }),
  database: option.string({
    doc: 'Database (a PostgreSQL schema) used when a call names none',
    default: DEFAULT_DATABASE,
  }),
  table: option.string({ doc: 'Table used when a call names none', default: DEFAULT_TABLE }),
  maxConnections: option.integer({
    doc: 'Most connections the pool opens',
    default: DEFAULT_MAX_CONNECTIONS,
    min: 1,
  }),
  idleTimeout: option.duration({
    doc: 'An idle pooled connection is closed after this long',
    default: DEFAULT_IDLE_TIMEOUT,
  }),
  connectTimeout: option.duration({
    doc: 'How long an operation waits for a connection (retrying while the server is down), then 503',
    default: DEFAULT_CONNECT_TIMEOUT,
    min: 1,
  }),
  statementTimeout: option.duration({
    doc: 'The server cancels a statement after this long (0: no limit)',
    default: DEFAULT_STATEMENT_TIMEOUT,
  }),
  sweepInterval: option.duration({
    doc: 'How often expired rows are deleted in the background (0: never)',
    default: DEFAULT_SWEEP_INTERVAL,
  }),
} as const

const errors = pluginErrors('store', 'postgres store')

/** Parse the address and fill in defaults. Throws a 400 MicroError for a malformed address or option. */
export function resolveOptions(options: PostgresStoreOptions = {}): ResolvedPostgresOptions {
  const { logger: _logger, ...given } = options
  const o = parseOptions(postgresStoreOptions, given, { kind: 'store', name: 'postgres' })
  const url = parseUrl(o.address?.trim() || DEFAULT_ADDRESS, {
    schemes: ['postgresql', 'postgres'],
    defaultUser: 'postgres',
    defaultPath: '/postgres',
    label: 'postgres store',
    errorId: errors.id,
    example: 'postgresql://user:password@host:port/dbname',
  })
  return {
    connectionString: url.href,
    displayAddress: redact(url.href),
    database: o.database || DEFAULT_DATABASE,
    table: o.table || DEFAULT_TABLE,
    maxConnections: o.maxConnections,
    idleTimeout: o.idleTimeout,
    connectTimeout: o.connectTimeout,
    statementTimeout: o.statementTimeout,
    sweepInterval: o.sweepInterval,
  }
}

export { redact }
