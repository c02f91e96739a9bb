import type { Logger } from '@micro-ts/core'
import { option, parseOptions, parseUrl, pluginErrors, redact } from '@micro-ts/core/plugin'

export interface RedisStoreOptions {
  /**
   * `redis://[user:password@]host:port[/db]`, or `rediss://...` for TLS. A bare `host` or
   * `host:port` means `redis://host:port`. Default {@link DEFAULT_ADDRESS}.
   */
  address?: string
  /** Database used when a call names none. Default `micro`, as go-micro. */
  database?: string
  /** Table used when a call names none. Default `micro`, as go-micro. */
  table?: string
  /**
   * Put in front of every Redis key this store writes, so several applications can share one
   * Redis: e.g. `billing:`. Default: none.
   */
  keyPrefix?: string
  /**
   * How long an operation waits for a connection, in milliseconds, including reconnecting while
   * the server is down or restarting; after that it fails with a 503. Default 5000.
   */
  connectTimeout?: number
  /** A command that gets no reply within this many milliseconds fails (0: no limit). Default 10 000. */
  commandTimeout?: number
  /** The `COUNT` hint of each `SCAN` step. Default 1000. */
  scanCount?: number
  /** Where connection problems are logged. Default: silent. */
  logger?: Logger
}

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
}

export const DEFAULT_ADDRESS = 'redis://127.0.0.1:6379'
export const DEFAULT_DATABASE = 'micro'
export const DEFAULT_TABLE = 'micro'
export const DEFAULT_CONNECT_TIMEOUT = 5000
export const DEFAULT_COMMAND_TIMEOUT = 10_000
export const DEFAULT_SCAN_COUNT = 1000

/** The options, declared once: the plugin loader, `createRedisStore()` and the README table use them. */
export const redisStoreOptions = {
  address: option.string({
    doc: 'redis:// or rediss:// URL, credentials included (MICRO_STORE_ADDRESS wins over it)',
  }),
  database: option.string({ doc: 'Database used when a call names none', default: DEFAULT_DATABASE }),
  table: option.string({ doc: 'Table used when a call names none', default: DEFAULT_TABLE }),
  keyPrefix: option.string({
    doc: 'Put in front of every Redis key this store writes (several apps on one Redis)',
    default: '',
  }),
  connectTimeout: option.duration({
    doc: 'How long an operation waits for a connection (reconnecting while the server is down), then 503',
    default: DEFAULT_CONNECT_TIMEOUT,
    min: 1,
  }),
  commandTimeout: option.duration({
    doc: 'A command with no reply after this long fails (0: no limit)',
    default: DEFAULT_COMMAND_TIMEOUT,
  }),
  scanCount: option.integer({ doc: 'The COUNT hint of each SCAN step', default: DEFAULT_SCAN_COUNT, min: 1 }),
} as const

const errors = pluginErrors('store', 'redis store')

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
    keyPrefix: o.keyPrefix,
    connectTimeout: o.connectTimeout,
    commandTimeout: o.commandTimeout,
    scanCount: o.scanCount,
  }
}

export { redact }
