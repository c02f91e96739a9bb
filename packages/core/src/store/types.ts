/** Store: a key-value store with databases and tables (go-micro store/store.go). */

export interface StoreRecord {
  key: string
  /**
   * The bytes. A value read is the caller's own (a store never hands out a view on a driver's
   * buffer), but a small one may sit in Node's shared Buffer pool, as `Buffer.from`'s do: read it
   * through `byteOffset` and `byteLength`, never through `.buffer` alone.
   */
  value: Uint8Array
  metadata?: Record<string, unknown>
  /**
   * On write: time to live in milliseconds (go-micro's `Record.Expiry`); <= 0 means already
   * expired. On read: the remaining time to live, absent when the record never expires.
   */
  expiry?: number
}

export interface ScopeOptions {
  /** Defaults to the store's database (`micro` unless configured). */
  database?: string
  /** Defaults to the store's table (`micro` unless configured). */
  table?: string
}

export interface ReadOptions extends ScopeOptions {
  /** Treat the key as a prefix. */
  prefix?: boolean
  /** Treat the key as a suffix (with `prefix`, a key must match both). */
  suffix?: boolean
  limit?: number
  offset?: number
}

export interface WriteOptions extends ScopeOptions {
  /** Time to live in milliseconds; wins over `expiry` and the record's own expiry. */
  ttl?: number
  /** Absolute expiry time. */
  expiry?: Date
}

export type DeleteOptions = ScopeOptions

export interface ListOptions extends ScopeOptions {
  prefix?: string
  suffix?: string
  limit?: number
  offset?: number
}

export interface Store {
  readonly name: string
  /**
   * Exact key: one record, or a not-found MicroError (404, detail `not found`).
   * With `prefix`/`suffix`: every match in key order after offset/limit (possibly none).
   * Expired records are never returned.
   */
  read(key: string, options?: ReadOptions): Promise<StoreRecord[]>
  write(record: StoreRecord, options?: WriteOptions): Promise<void>
  /** Deleting a missing key is not an error. */
  delete(key: string, options?: DeleteOptions): Promise<void>
  /** Keys in key order; filters apply before offset/limit. */
  list(options?: ListOptions): Promise<string[]>
  /**
   * Optional: resolve once the backend answered, reject (a MicroError, 503 when unreachable)
   * otherwise; give up when `signal` fires. A service's `/health/ready` calls it; a store without
   * it is probed with `list({ limit: 1 })`.
   */
  ping?(signal?: AbortSignal): Promise<void>
  close(): Promise<void>
}
