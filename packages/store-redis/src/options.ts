import { type Logger, MicroError, STORE_ERROR_ID } from '@micro-ts/core'

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

function badOption(detail: string): MicroError {
  return new MicroError(STORE_ERROR_ID, 400, `redis store: ${detail}`)
}

function count(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw badOption(`${name} must be an integer >= ${min}, got ${String(value)}`)
  }
  return value
}

/** Parse the address and fill in defaults. Throws a 400 MicroError for a malformed address or option. */
export function resolveOptions(options: RedisStoreOptions = {}): ResolvedRedisOptions {
  const raw = (options.address ?? '').trim() || DEFAULT_ADDRESS
  let url: URL
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `redis://${raw}`)
  } catch {
    throw badOption(
      `invalid address ${JSON.stringify(redact(raw))}: expected redis://[user:password@]host:port[/db]`,
    )
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw badOption(
      `invalid address ${JSON.stringify(redact(raw))}: the scheme must be redis:// or rediss://`,
    )
  }
  if (!url.hostname) throw badOption(`invalid address ${JSON.stringify(redact(raw))}: no host`)
  const db = url.pathname.replace(/^\//, '')
  if (db !== '' && !/^\d+$/.test(db)) {
    throw badOption(`invalid address ${JSON.stringify(redact(raw))}: the path must be a database number`)
  }
  if (options.keyPrefix !== undefined && typeof options.keyPrefix !== 'string') {
    throw badOption('keyPrefix must be a string')
  }
  return {
    url: url.href,
    displayAddress: redact(url.href),
    database: options.database || DEFAULT_DATABASE,
    table: options.table || DEFAULT_TABLE,
    keyPrefix: options.keyPrefix ?? '',
    connectTimeout: count('connectTimeout', options.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 1),
    commandTimeout: count('commandTimeout', options.commandTimeout, DEFAULT_COMMAND_TIMEOUT, 0),
    scanCount: count('scanCount', options.scanCount, DEFAULT_SCAN_COUNT, 1),
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
