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

/** The address used when none is given: a stock local MySQL/MariaDB as root. */
export const DEFAULT_ADDRESS = 'mysql://root@127.0.0.1:3306'
export const DEFAULT_DATABASE = 'micro'
export const DEFAULT_TABLE = 'micro'
export const DEFAULT_CONNECT_TIMEOUT = 5000

/** The options, declared once: the plugin loader, `createMySQLStore()` and the README table use them. */
export const mysqlStoreOptions = {
  address: option.string({
    doc: '`mysql://user:password@host:port/database` (`mariadb://` too); a bare `host[:port]` means `mysql://root@host:port` (MICRO_STORE_ADDRESS wins over it)',
  }),
  database: option.string({
    doc: "Database used when a call names none; unset, the address's database, else `micro`",
  }),
  table: option.string({ doc: 'Table used when a call names none', default: DEFAULT_TABLE }),
  maxConnections: option.integer({
    doc: 'Most connections the pool opens (more calls wait in line)',
    default: 10,
    min: 1,
  }),
  idleTimeout: option.duration({
    doc: 'An idle pooled connection is closed after this long',
    default: 30_000,
  }),
  connectTimeout: option.duration({
    doc: 'How long opening one connection may take, then 503',
    default: DEFAULT_CONNECT_TIMEOUT,
    min: 1,
  }),
  sweepInterval: option.duration({
    doc: 'How often expired rows are deleted in the background (0: never)',
    default: 60_000,
  }),
  ...tlsOptions('MySQL'),
} as const

/**
 * What `createMySQLStore()` takes: any declared option (TLS as `tls: true`,
 * `tls: { caFile }` or `'tls.caFile'`), and a logger.
 */
export type MySQLStoreOptions = OptionsOf<typeof mysqlStoreOptions> & {
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
  /** TLS material, or undefined for a plain connection. */
  tls: TlsMaterial | undefined
}

export const errors = pluginErrors('store', 'mysql store')

function decode(part: string, what: string, url: URL): string {
  try {
    return decodeURIComponent(part)
  } catch {
    throw errors.badOption(
      `invalid address ${JSON.stringify(redact(url.href))}: the ${what} is not valid percent-encoding`,
    )
  }
}

/** Parse the address and fill in defaults. Throws a 400 MicroError for a malformed address or option. */
export function resolveOptions(options: MySQLStoreOptions = {}): ResolvedMySQLOptions {
  const { logger: _logger, ...given } = options
  const o = parseOptions(mysqlStoreOptions, given, { kind: 'store', name: 'mysql' })
  const url = parseUrl(o.address?.trim() || DEFAULT_ADDRESS, {
    schemes: ['mysql', 'mariadb'],
    defaultUser: 'root',
    defaultPort: 3306,
    label: 'mysql store',
    errorId: errors.id,
    example: 'mysql://user:password@host:port/database',
  })
  const pathDatabase = decode(url.pathname.replace(/^\//, ''), 'database', url)
  if (pathDatabase.includes('/')) {
    throw errors.badOption(
      `invalid address ${JSON.stringify(redact(url.href))}: the path must be one database name`,
    )
  }
  return {
    // URL keeps IPv6 literals in brackets; the socket wants them bare.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port),
    user: url.username ? decode(url.username, 'user name', url) : 'root',
    password: url.password ? decode(url.password, 'password', url) : undefined,
    displayAddress: redact(url.href),
    database: o.database || pathDatabase || DEFAULT_DATABASE,
    table: o.table || DEFAULT_TABLE,
    maxConnections: o.maxConnections,
    idleTimeout: o.idleTimeout,
    connectTimeout: o.connectTimeout,
    sweepInterval: o.sweepInterval,
    tls: readTls(o, errors),
  }
}

export { redact }
