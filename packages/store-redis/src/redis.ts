import {
  type DeleteOptions,
  type ListOptions,
  type Logger,
  MicroError,
  type ReadOptions,
  type Store,
  type StoreRecord,
  silentLogger,
  type WriteOptions,
} from '@micro-ts/core'
import {
  backoff,
  checkCount,
  checkKey,
  checkName,
  checkRecord,
  encodeMetadata,
  ownedBytes,
  pluginErrors,
  resolveExpiry,
  sleep,
} from '@micro-ts/core/plugin'
import { Redis } from 'ioredis'
import { lastingErrorConnector } from './connector.js'
import { errors, type RedisStoreOptions, type ResolvedRedisOptions, resolveOptions } from './options.js'

/** go-micro's store error for a missing key is exactly `not found`, without a label. */
const notFound = () => pluginErrors('store').notFound('not found')

/**
 * A database or table name inside a Redis key: `%` and `/` are percent-encoded, so `/` only ever
 * separates the parts and no two (database, table) pairs share a namespace.
 */
export function encodeName(name: string): string {
  return name.replace(/[%/]/g, (c) => (c === '%' ? '%25' : '%2F'))
}

/** Text matched literally by a `SCAN MATCH` glob: `*`, `?`, `[`, `]` and `\` are backslash-escaped. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}

/**
 * How a record is stored in one Redis string (so `SET ... PX` writes value, metadata and TTL in one
 * atomic command, and one `GET` reads them back): a format byte (2), the absolute expiry in Unix
 * milliseconds as a big-endian double (0 when the record has none), the metadata's length as a
 * 4-byte big-endian integer (0 when it has none), the metadata as UTF-8 JSON, then the value's
 * bytes. Format 1, written before 0.2, has no expiry field: its TTL lives only in Redis (`PTTL`).
 */
const FORMAT = 2
const HEADER = 13
const LEGACY_FORMAT = 1
const LEGACY_HEADER = 5

/** A decoded record string. */
export interface Envelope {
  value: Uint8Array
  metadata?: Record<string, unknown>
  /** When the record expires (Unix ms, the writer's clock); absent when it never does. */
  expiresAt?: number
  /** Written in format 1, which keeps the TTL only in Redis: the reader asks `PTTL`. */
  legacy?: true
}

export function encodeEnvelope(value: Uint8Array, metadata: string | null, expiresAt?: number): Buffer {
  const meta = metadata === null ? Buffer.alloc(0) : Buffer.from(metadata, 'utf8')
  const out = Buffer.allocUnsafe(HEADER + meta.length + value.byteLength)
  out[0] = FORMAT
  out.writeDoubleBE(expiresAt ?? 0, 1)
  out.writeUInt32BE(meta.length, 9)
  meta.copy(out, HEADER)
  out.set(value, HEADER + meta.length)
  return out
}

export function decodeEnvelope(data: Buffer): Envelope {
  const format = data[0]
  const header = format === FORMAT ? HEADER : LEGACY_HEADER
  if (data.length < header || (format !== FORMAT && format !== LEGACY_FORMAT)) {
    throw errors.internal('a value under this key was not written by this store')
  }
  const metaLength = data.readUInt32BE(header - 4)
  if (header + metaLength > data.length) throw errors.internal('a stored record is truncated')
  // ioredis hands a reply out as a view on its socket read: the value gets bytes of its own.
  const envelope: Envelope = { value: ownedBytes(data, header + metaLength) }
  if (format === LEGACY_FORMAT) envelope.legacy = true
  else {
    const expiresAt = data.readDoubleBE(1)
    if (expiresAt > 0) envelope.expiresAt = expiresAt
  }
  if (metaLength === 0) return envelope
  try {
    const json = data.toString('utf8', header, header + metaLength)
    envelope.metadata = JSON.parse(json) as Record<string, unknown>
    return envelope
  } catch (err) {
    throw errors.internal('a stored record has corrupt metadata', err)
  }
}

/**
 * The record a decoded string holds. The remaining time is counted from the envelope's expiry on
 * this process's clock; Redis, which expires the key on its own clock, still holds it, so the
 * record is live and reports at least 1 ms even when clocks disagree.
 */
function toRecord(key: string, envelope: Envelope, now: number): StoreRecord {
  const record: StoreRecord = { key, value: envelope.value }
  if (envelope.metadata !== undefined) record.metadata = envelope.metadata
  if (envelope.expiresAt !== undefined) record.expiry = Math.max(1, Math.ceil(envelope.expiresAt - now))
  return record
}

/** Errors after which the same command may simply be sent again once the connection is back. */
function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string; name?: string }
  if (
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'].includes(
      e?.code ?? '',
    )
  ) {
    return true
  }
  const m = e?.message ?? ''
  return (
    e?.name === 'MaxRetriesPerRequestError' ||
    e?.name === 'AbortError' ||
    m.includes('Connection is closed') ||
    m.includes("Stream isn't writeable") ||
    m.startsWith('LOADING')
  )
}

function isAuthError(err: unknown): boolean {
  const m = (err as { message?: string })?.message ?? ''
  return (
    /^(WRONGPASS|NOAUTH|NOPERM)\b/.test(m) || m.includes('invalid password') || m.includes('invalid username')
  )
}

interface Waiter {
  resolve(): void
  reject(err: MicroError): void
}

/**
 * A store on Redis. Each record is one Redis string under
 * `<keyPrefix><database>/<table>/<key>` holding value and metadata (see {@link encodeEnvelope}),
 * with its TTL set by `SET ... PX`. Prefix and suffix reads walk the namespace with `SCAN MATCH`
 * (never `KEYS`), then filter, sort bytewise and apply offset and limit.
 */
export class RedisStore implements Store {
  readonly name = 'redis'
  /** The options in effect, defaults applied (credentials included: do not log them). */
  readonly resolvedOptions: Readonly<ResolvedRedisOptions>
  private readonly logger: Logger
  private readonly redis: Redis
  private readonly waiters = new Set<Waiter>()
  private lastError: Error | undefined
  private closed = false
  /** The namespace of the configured database and table, worked out on first use. */
  private defaultNamespace: string | undefined

  constructor(options: RedisStoreOptions = {}) {
    this.resolvedOptions = resolveOptions(options)
    this.logger = (options.logger ?? silentLogger).child({ store: 'redis' })
    // Short enough that a call waiting out an outage sees several attempts within its connect timeout.
    const reconnectDelay = backoff({
      base: 50,
      max: Math.min(500, Math.max(50, this.resolvedOptions.connectTimeout / 4)),
    })
    this.redis = new Redis(this.resolvedOptions.url, {
      lazyConnect: true,
      connectTimeout: this.resolvedOptions.connectTimeout,
      commandTimeout: this.resolvedOptions.commandTimeout || undefined,
      // Commands cut off by a lost connection fail at once; `run` decides what to retry.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: reconnectDelay,
      connectionName: 'micro-ts-store',
      Connector: lastingErrorConnector((err) =>
        this.logger.debug({ err: err.message }, 'redis connection error after the first on the same socket'),
      ),
      // Only when TLS is on (rediss:// or tls options): the material, or {} for the system's roots.
      ...(this.resolvedOptions.tls ? { tls: { ...this.resolvedOptions.tls } } : {}),
    })
    this.redis.on('ready', () => {
      this.lastError = undefined
      for (const w of this.waiters) w.resolve()
      this.waiters.clear()
    })
    this.redis.on('error', (err: Error) => {
      this.lastError = err
      this.logger.warn({ err: err.message }, 'redis connection error')
      if (isAuthError(err)) {
        // Reconnecting will not fix credentials: fail everyone waiting now.
        const e = this.toMicroError(err)
        for (const w of this.waiters) w.reject(e)
        this.waiters.clear()
      }
    })
  }

  async read(key: string, options: ReadOptions = {}): Promise<StoreRecord[]> {
    this.checkOpen()
    checkKey('key', key)
    const limit = checkCount('limit', options.limit)
    const offset = checkCount('offset', options.offset)
    const ns = this.namespace(options)
    if (!options.prefix && !options.suffix) {
      const [record] = await this.fetch(ns, [key])
      if (!record) throw notFound()
      return [record]
    }
    const keys = (await this.scan(ns, options.prefix ? key : '', options.suffix ? key : '')).slice(offset)
    const out: StoreRecord[] = []
    // Keys can expire between the scan and the fetch; keep fetching until the limit is met.
    for (let i = 0; i < keys.length && (limit === 0 || out.length < limit); ) {
      const want = Math.min(limit === 0 ? keys.length - i : limit - out.length, 500)
      const batch = keys.slice(i, i + want)
      i += batch.length
      for (const r of await this.fetch(ns, batch)) if (r) out.push(r)
    }
    return out
  }

  async write(record: StoreRecord, options: WriteOptions = {}): Promise<void> {
    this.checkOpen()
    checkRecord(record)
    const { key, value, metadata } = record
    const redisKey = this.namespace(options) + key
    const now = Date.now()
    const expiry = resolveExpiry(record, options, now)
    if (expiry.expired) {
      // Already expired: the write replaces the key with nothing, as the memory store does.
      await this.run((r) => r.del(redisKey))
      return
    }
    const { at } = expiry
    const envelope = encodeEnvelope(value, encodeMetadata(metadata), at)
    if (at === undefined) await this.run((r) => r.set(redisKey, envelope))
    else await this.run((r) => r.set(redisKey, envelope, 'PX', Math.ceil(at - now)))
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<void> {
    this.checkOpen()
    checkKey('key', key)
    const redisKey = this.namespace(options) + key
    await this.run((r) => r.del(redisKey))
  }

  async list(options: ListOptions = {}): Promise<string[]> {
    this.checkOpen()
    if (options.prefix !== undefined) checkKey('prefix', options.prefix)
    if (options.suffix !== undefined) checkKey('suffix', options.suffix)
    const limit = checkCount('limit', options.limit)
    const offset = checkCount('offset', options.offset)
    const keys = await this.scan(this.namespace(options), options.prefix ?? '', options.suffix ?? '')
    return limit > 0 ? keys.slice(offset, offset + limit) : keys.slice(offset)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const e = errors.unavailable('store is closed')
    for (const w of this.waiters) w.reject(e)
    this.waiters.clear()
    if (this.redis.status === 'ready') {
      // QUIT lets replies already on their way arrive; disconnect() covers a server that stopped answering.
      await Promise.race([this.redis.quit().catch(() => {}), new Promise((r) => setTimeout(r, 1000).unref())])
    }
    this.redis.disconnect()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** `<keyPrefix><database>/<table>/`: everything before the record's key. */
  private namespace(scope: { database?: string; table?: string }): string {
    if (scope.database === undefined && scope.table === undefined && this.defaultNamespace)
      return this.defaultNamespace
    checkName('database', scope.database)
    checkName('table', scope.table)
    const database = scope.database || this.resolvedOptions.database
    const table = scope.table || this.resolvedOptions.table
    const ns = `${this.resolvedOptions.keyPrefix}${encodeName(database)}/${encodeName(table)}/`
    if (scope.database === undefined && scope.table === undefined) this.defaultNamespace = ns
    return ns
  }

  /** Every live key under `ns` that starts with `prefix` and ends with `suffix`, sorted bytewise. */
  private async scan(ns: string, prefix: string, suffix: string): Promise<string[]> {
    // One glob `prefix*suffix` would miss keys where prefix and suffix overlap, so the suffix is
    // only in the glob when there is no prefix, and is always checked again below.
    const pattern = escapeGlob(ns + prefix) + (prefix ? '*' : `*${escapeGlob(suffix)}`)
    const nsLength = Buffer.byteLength(ns)
    const found = new Map<string, Buffer>()
    await this.run(async (r) => {
      found.clear() // a retried walk starts over
      let cursor = '0'
      do {
        const [next, keys] = await r.scanBuffer(
          cursor,
          'MATCH',
          pattern,
          'COUNT',
          this.resolvedOptions.scanCount,
        )
        cursor = next.toString()
        // SCAN may return a key more than once; the map keeps one.
        for (const k of keys) found.set(k.toString('latin1'), k.subarray(nsLength))
      } while (cursor !== '0')
    })
    const keys = [...found.values()].sort(Buffer.compare).map((k) => k.toString('utf8'))
    return suffix ? keys.filter((k) => k.startsWith(prefix) && k.endsWith(suffix)) : keys
  }

  /**
   * The records under `keys` (undefined where a key is gone): one `GET` for one key, one `MGET`
   * for more, each record whole with its expiry. Records of the legacy format are read again with
   * their `PTTL`.
   */
  private async fetch(ns: string, keys: string[]): Promise<(StoreRecord | undefined)[]> {
    if (keys.length === 0) return []
    const data =
      keys.length === 1
        ? [await this.run((r) => r.getBuffer(ns + keys[0]))]
        : await this.run((r) => r.mgetBuffer(keys.map((key) => ns + key)))
    const now = Date.now()
    const records: (StoreRecord | undefined)[] = []
    const legacy: number[] = []
    for (let i = 0; i < keys.length; i++) {
      const d = data[i]
      if (!Buffer.isBuffer(d)) {
        records.push(undefined)
        continue
      }
      const envelope = decodeEnvelope(d)
      if (envelope.legacy) {
        // Filled in below, from the MULTI that also reads its PTTL.
        legacy.push(i)
        records.push(undefined)
      } else records.push(toRecord(keys[i], envelope, now))
    }
    if (legacy.length > 0) {
      const again = await this.fetchWithTtl(
        ns,
        legacy.map((i) => keys[i]),
      )
      legacy.forEach((i, j) => {
        records[i] = again[j]
      })
    }
    return records
  }

  /** Records of the legacy format: value and `PTTL` read atomically in one `MULTI`. */
  private async fetchWithTtl(ns: string, keys: string[]): Promise<(StoreRecord | undefined)[]> {
    const replies = await this.run(async (r) => {
      const tx = r.multi()
      for (const key of keys) tx.getBuffer(ns + key).pttl(ns + key)
      const result = await tx.exec()
      if (!result) throw new Error('Connection is closed: transaction aborted')
      return result
    })
    return keys.map((key, i) => {
      const [getErr, data] = replies[2 * i]
      const [ttlErr, pttl] = replies[2 * i + 1]
      if (getErr) throw this.toMicroError(getErr)
      if (ttlErr) throw this.toMicroError(ttlErr)
      if (!Buffer.isBuffer(data)) return undefined
      const record = toRecord(key, decodeEnvelope(data), 0)
      if (typeof pttl === 'number' && pttl > 0) record.expiry = pttl
      return record
    })
  }

  /**
   * Run `fn` once the connection is ready. A connection lost on the way (server restart) is waited
   * out and `fn` sent again until the connect timeout has passed; every command here is
   * idempotent, so sending one twice is safe.
   */
  private async run<T>(fn: (redis: Redis) => Promise<T>): Promise<T> {
    if (this.redis.status === 'ready') {
      // The common case, without the wait for a connection: one await less per command.
      try {
        return await fn(this.redis)
      } catch (err) {
        if (this.closed) throw errors.unavailable('store is closed')
        if (!isConnectionError(err)) throw this.toMicroError(err)
        this.logger.debug({ err: (err as Error).message }, 'redis unavailable, retrying')
      }
    }
    const deadline = Date.now() + this.resolvedOptions.connectTimeout
    for (;;) {
      await this.ready(deadline)
      try {
        return await fn(this.redis)
      } catch (err) {
        if (this.closed) throw errors.unavailable('store is closed')
        if (!isConnectionError(err) || Date.now() >= deadline) throw this.toMicroError(err)
        this.logger.debug({ err: (err as Error).message }, 'redis unavailable, retrying')
        if (this.redis.status === 'ready') await sleep(50)
      }
    }
  }

  private ready(deadline: number): Promise<void> {
    if (this.redis.status === 'ready') return Promise.resolve()
    this.checkOpen()
    if (this.redis.status === 'wait' || this.redis.status === 'end') {
      // First use (lazy connect); connect() reports failures through the 'error' event too.
      this.redis.connect().catch(() => {})
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
        reject: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      }
      const timer = setTimeout(
        () => {
          this.waiters.delete(waiter)
          const why = this.lastError?.message || 'no answer'
          const make = isAuthError(this.lastError) ? errors.unauthorized : errors.unavailable
          reject(
            make(
              `cannot reach ${this.resolvedOptions.displayAddress} within ${this.resolvedOptions.connectTimeout} ms: ${why}`,
              this.lastError,
            ),
          )
        },
        Math.max(0, deadline - Date.now()),
      )
      this.waiters.add(waiter)
    })
  }

  private checkOpen(): void {
    if (this.closed) throw errors.unavailable('store is closed')
  }

  private toMicroError(err: unknown): MicroError {
    if (err instanceof MicroError) return err
    const e = err as Error
    const message = e?.message || String(err)
    const where = ` (${this.resolvedOptions.displayAddress})`
    if (isAuthError(err)) return errors.unauthorized(message + where, err)
    if (isConnectionError(err)) return errors.unavailable(message + where, err)
    if (message.includes('Command timed out')) return errors.timeout(message, err)
    if (message.includes('invalid expire time')) return errors.badRequest(message, err)
    return errors.internal(message, err)
  }
}

/** Create a Redis store. The connection is opened on first use. */
export function createRedisStore(options: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(options)
}
