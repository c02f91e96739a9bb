import type { Logger } from '@micro-ts/core'
import {
  type OptionsOf,
  option,
  parseOptions,
  parseUrl,
  pluginErrors,
  readTls,
  redact,
  type TlsMaterial,
  tlsOptions,
} from '@micro-ts/core/plugin'

/**
 * The address used when none is given. go-micro defaults to a local CockroachDB
 * (`postgresql://root@localhost:26257`); this package defaults to a stock local PostgreSQL: the
 * `postgres` role and database, which every installation has.
 */
export const DEFAULT_ADDRESS = 'postgresql://postgres@127.0.0.1:5432/postgres'
export const DEFAULT_DATABASE = 'micro'
export const DEFAULT_TABLE = 'micro'
export const DEFAULT_CONNECT_TIMEOUT = 5000

/** The options, declared once: the plugin loader, `createPostgresStore()` and the README table use them. */
export const postgresStoreOptions = {
  address: option.string({
    doc: 'PostgreSQL URL, credentials and `?sslmode=` included; a bare `host[:port]` means `postgresql://postgres@host:port/postgres` (MICRO_STORE_ADDRESS wins over it)',
  }),
  database: option.string({
    doc: 'Database (a PostgreSQL schema) used when a call names none',
    default: DEFAULT_DATABASE,
  }),
  table: option.string({ doc: 'Table used when a call names none', default: DEFAULT_TABLE }),
  maxConnections: option.integer({
    doc: 'Most connections the pool opens',
    default: 10,
    min: 1,
  }),
  idleTimeout: option.duration({
    doc: 'An idle pooled connection is closed after this long',
    default: 30_000,
  }),
  connectTimeout: option.duration({
    doc: 'How long an operation waits for a connection (retrying while the server is down), then 503',
    default: DEFAULT_CONNECT_TIMEOUT,
    min: 1,
  }),
  statementTimeout: option.duration({
    doc: 'The server cancels a statement after this long (0: no limit)',
    default: 30_000,
  }),
  sweepInterval: option.duration({
    doc: 'How often expired rows are deleted in the background (0: never)',
    default: 60_000,
  }),
  ...tlsOptions('PostgreSQL'),
} as const

/**
 * What `createPostgresStore()` takes: any declared option (TLS as `tls: true`,
 * `tls: { caFile }` or `'tls.caFile'`), and a logger.
 */
export type PostgresStoreOptions = OptionsOf<typeof postgresStoreOptions> & {
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
  /** TLS from the `tls.*` options; undefined when they are unset (the URL's `sslmode` may still ask for TLS). */
  tls: TlsMaterial | undefined
}

const OWNER = { kind: 'store', name: 'postgres' } as const
export const errors = pluginErrors('store', 'postgres store')

/** libpq's TLS parameters, which `pg` reads from the URL and which then override its `ssl` option. */
const URL_TLS_PARAMETERS = ['ssl', 'sslmode', 'sslcert', 'sslkey', 'sslrootcert', 'sslnegotiation']

/** Parse the address and fill in defaults. Throws a 400 MicroError for a malformed address or option. */
export function resolveOptions(options: PostgresStoreOptions = {}): ResolvedPostgresOptions {
  const { logger: _logger, ...given } = options
  const o = parseOptions(postgresStoreOptions, given, OWNER)
  const url = parseUrl(o.address?.trim() || DEFAULT_ADDRESS, {
    schemes: ['postgresql', 'postgres'],
    defaultUser: 'postgres',
    defaultPath: '/postgres',
    label: 'postgres store',
    errorId: errors.id,
    example: 'postgresql://user:password@host:port/dbname',
  })
  const tls = readTls(o, errors)
  if (tls && URL_TLS_PARAMETERS.some((p) => url.searchParams.has(p))) {
    // pg would let the URL's parameters silently replace the options: refuse the ambiguity.
    throw errors.badOption(
      'TLS is set both in the address (sslmode, sslrootcert, ...) and by tls options; use one of the two',
    )
  }
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
    tls,
  }
}

export { redact }
