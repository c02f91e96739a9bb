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

export interface ResolvedRedisOptions {
  /** The URL handed to ioredis, credentials included. */
  url: string
  /** The same URL with the password masked, for messages and logs. */
  displayAddress: string
  database: string
  table: string
  keyPrefix: string
  connectTimeout: number
  commandTimeout: number
  scanCount: number
  /** TLS material, or undefined for a plain connection (`rediss://` or any `tls.*` option turns TLS on). */
  tls: TlsMaterial | undefined
}

export const DEFAULT_ADDRESS = 'redis://127.0.0.1:6379'
export const DEFAULT_DATABASE = 'micro'
export const DEFAULT_TABLE = 'micro'
export const DEFAULT_CONNECT_TIMEOUT = 5000

/** The options, declared once: the plugin loader, `createRedisStore()` and the README table use them. */
export const redisStoreOptions = {
  address: option.string({
    doc: '`redis://[user:password@]host:port[/db]` (`rediss://` for TLS); a bare `host[:port]` means `redis://host:port` (MICRO_STORE_ADDRESS wins over it)',
  }),
  database: option.string({ doc: 'Database used when a call names none', default: DEFAULT_DATABASE }),
  table: option.string({ doc: 'Table used when a call names none', default: DEFAULT_TABLE }),
  keyPrefix: option.string({
    doc: 'Put in front of every Redis key this store writes, e.g. `billing:` (several apps on one Redis); default none',
  }),
  connectTimeout: option.duration({
    doc: 'How long an operation waits for a connection (reconnecting while the server is down), then 503',
    default: DEFAULT_CONNECT_TIMEOUT,
    min: 1,
  }),
  commandTimeout: option.duration({
    doc: 'A command with no reply after this long fails (0: no limit)',
    default: 10_000,
  }),
  scanCount: option.integer({ doc: 'The COUNT hint of each SCAN step', default: 1000, min: 1 }),
  ...tlsOptions('Redis', 'rediss://'),
} as const

/**
 * What `createRedisStore()` takes: any declared option (TLS as `tls: true`,
 * `tls: { caFile }` or `'tls.caFile'`), and a logger.
 */
export type RedisStoreOptions = OptionsOf<typeof redisStoreOptions> & {
  /** Where connection problems are logged. Default: silent. */
  logger?: Logger
}

export const errors = pluginErrors('store', 'redis store')

/** Parse the address and fill in defaults. Throws a 400 MicroError for a malformed address or option. */
export function resolveOptions(options: RedisStoreOptions = {}): ResolvedRedisOptions {
  const { logger: _logger, ...given } = options
  const o = parseOptions(redisStoreOptions, given, { kind: 'store', name: 'redis' })
  const url = parseUrl(o.address?.trim() || DEFAULT_ADDRESS, {
    schemes: ['redis', 'rediss'],
    label: 'redis store',
    errorId: errors.id,
    example: 'redis://[user:password@]host:port[/db]',
  })
  const db = url.pathname.replace(/^\//, '')
  if (db !== '' && !/^\d+$/.test(db)) {
    throw errors.badOption(
      `invalid address ${JSON.stringify(redact(url.href))}: the path must be a database number`,
    )
  }
  return {
    url: url.href,
    displayAddress: redact(url.href),
    database: o.database || DEFAULT_DATABASE,
    table: o.table || DEFAULT_TABLE,
    keyPrefix: o.keyPrefix ?? '',
    connectTimeout: o.connectTimeout,
    commandTimeout: o.commandTimeout,
    scanCount: o.scanCount,
    tls: readTls(o, errors, url.protocol === 'rediss:'),
  }
}

export { redact }
