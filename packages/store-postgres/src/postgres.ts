import {
  type DeleteOptions,
  type ListOptions,
  type Logger,
  MicroError,
  type ReadOptions,
  STORE_ERROR_ID,
  type Store,
  type StoreRecord,
  silentLogger,
  type WriteOptions,
} from '@micro-ts/core'
import pg from 'pg'
import { type PostgresStoreOptions, type ResolvedPostgresOptions, resolveOptions } from './options.js'

/**
 * The one function that turns a database or table name into SQL. go-micro's mapping (every run
 * of characters outside `[a-zA-Z0-9]` becomes `_`), lowercased as PostgreSQL folds go-micro's
 * unquoted names, cut to PostgreSQL's 63-byte identifier limit, then double-quoted so reserved
 * words and leading digits are fine too.
 */
export function identifier(name: string): string {
  const safe = name
    .replace(/[^a-zA-Z0-9]+/g, '_')
    .toLowerCase()
    .slice(0, 63)
  return `"${safe}"`
}

/** One store table: its quoted names, computed once. */
interface Target {
  /** `"schema"."table"`. */
  qualified: string
  schema: string
  pkey: string
  keyIndex: string
  metadataIndex: string
  expiryIndex: string
}

function target(database: string, table: string): Target {
  const t = table.replace(/[^a-zA-Z0-9]+/g, '_')
  return {
    qualified: `${identifier(database)}.${identifier(table)}`,
    schema: identifier(database),
    pkey: identifier(`${t}_pkey`),
    keyIndex: identifier(`key_index_${t}`),
    metadataIndex: identifier(`metadata_index_${t}`),
    expiryIndex: identifier(`expiry_index_${t}`),
  }
}

interface Row {
  key: string
  value: Buffer | null
  metadata: Record<string, unknown> | null
  /** Remaining time to live in ms (server clock); null when the row never expires. */
  ttl: number | null
}

/** A key as a LIKE pattern that matches it literally (backslash is PostgreSQL's default LIKE escape). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, '\\$&')
}

/** Serialises all DDL of every micro-ts process on one server, so concurrent `CREATE ... IF NOT EXISTS` never race. */
const DDL_LOCK = 0x6d6963726f // "micro"

const LIVE = '(expiry IS NULL OR expiry > now())'
const COLUMNS = `key, value, metadata, (EXTRACT(EPOCH FROM (expiry - now())) * 1000)::float8 AS ttl`

const LOST_CONNECTION = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
])
/** admin_shutdown, crash_shutdown, cannot_connect_now (starting up or shutting down). */
const SERVER_GOING = new Set(['57P01', '57P02', '57P03'])
/** undefined_table, invalid_schema_name: someone dropped what this store created. */
const MISSING_TABLE = new Set(['42P01', '3F000'])

/**
 * A store on PostgreSQL in go-micro's layout: each database is a schema, each table a table
 * `(key text primary key, value bytea, metadata jsonb, expiry timestamptz)`. Keys are ordered
 * bytewise (`COLLATE "C"`), expired rows are never returned and are deleted as reads meet them
 * and by a periodic sweep.
 */
export class PostgresStore implements Store {
  readonly name = 'postgres'
  private readonly options: ResolvedPostgresOptions
  private readonly logger: Logger
  private readonly pool: pg.Pool
  /** Tables created (or being created) by this store, by qualified name. */
  private readonly ready = new Map<string, Promise<void>>()
  private readonly targets = new Map<string, Target>()
  private sweeper: NodeJS.Timeout | undefined
  private sweeping = false
  private closed = false

  constructor(options: PostgresStoreOptions = {}) {
    this.options = resolveOptions(options)
    this.logger = (options.logger ?? silentLogger).child({ store: 'postgres' })
    this.pool = new pg.Pool({
      connectionString: this.options.connectionString,
      max: this.options.maxConnections,
      idleTimeoutMillis: this.options.idleTimeout,
      connectionTimeoutMillis: this.options.connectTimeout,
      statement_timeout: this.options.statementTimeout || undefined,
      keepAlive: true,
      allowExitOnIdle: true,
      application_name: 'micro-ts store',
    })
    // An idle connection that dies (server restart) is dropped by the pool; without a listener the error would crash the process.
    this.pool.on('error', (err) => this.logger.warn({ err: err.message }, 'postgres connection lost'))
    if (this.options.sweepInterval > 0) {
      this.sweeper = setInterval(() => void this.sweep(), this.options.sweepInterval)
      this.sweeper.unref()
    }
  }

  async read(key: string, options: ReadOptions = {}): Promise<StoreRecord[]> {
    this.checkOpen()
    checkKey('key', key)
    const limit = checkCount('limit', options.limit)
    const offset = checkCount('offset', options.offset)
    const t = this.target(options)
    if (!options.prefix && !options.suffix) {
      const rows = await this.query<Row>(
        t,
        `WITH swept AS (DELETE FROM ${t.qualified} WHERE key = $1 AND expiry <= now())
         SELECT ${COLUMNS} FROM ${t.qualified} WHERE key = $1 AND ${LIVE}`,
        [key],
      )
      if (rows.length === 0) throw new MicroError(STORE_ERROR_ID, 404, 'not found')
      return rows.map(toRecord)
    }
    const rows = await this.range<Row>(
      t,
      COLUMNS,
      options.prefix ? key : '',
      options.suffix ? key : '',
      limit,
      offset,
    )
    return rows.map(toRecord)
  }

  async write(record: StoreRecord, options: WriteOptions = {}): Promise<void> {
    this.checkOpen()
    if (!record || typeof record !== 'object') throw badRequest('record must be an object')
    const { key, value, metadata } = record
    if (typeof key !== 'string' || key.length === 0) throw badRequest('record key must be a non-empty string')
    checkKey('record key', key)
    if (!(value instanceof Uint8Array)) throw badRequest('record value must be a Uint8Array')
    const meta = encodeMetadata(metadata)
    const t = this.target(options)
    const expiry = resolveExpiry(record, options)
    if (expiry.expired) {
      // Already expired: the write replaces the key with nothing, as the memory store does.
      await this.query(t, `DELETE FROM ${t.qualified} WHERE key = $1`, [key])
      return
    }
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    let expiresAt = 'NULL'
    const params: unknown[] = [key, bytes, meta]
    if (expiry.ttl !== undefined) {
      // Expiry from the server's clock, the same clock every read compares against.
      expiresAt = `now() + $4::float8 * interval '1 millisecond'`
      params.push(expiry.ttl)
    } else if (expiry.at !== undefined) {
      expiresAt = '$4::timestamptz'
      params.push(expiry.at.toISOString())
    }
    await this.query(
      t,
      `INSERT INTO ${t.qualified} (key, value, metadata, expiry) VALUES ($1, $2, $3::jsonb, ${expiresAt})
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, metadata = EXCLUDED.metadata, expiry = EXCLUDED.expiry`,
      params,
    )
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<void> {
    this.checkOpen()
    checkKey('key', key)
    const t = this.target(options)
    await this.query(t, `DELETE FROM ${t.qualified} WHERE key = $1`, [key])
  }

  async list(options: ListOptions = {}): Promise<string[]> {
    this.checkOpen()
    if (options.prefix !== undefined) checkKey('prefix', options.prefix)
    if (options.suffix !== undefined) checkKey('suffix', options.suffix)
    const limit = checkCount('limit', options.limit)
    const offset = checkCount('offset', options.offset)
    const t = this.target(options)
    const rows = await this.range<{ key: string }>(
      t,
      'key',
      options.prefix ?? '',
      options.suffix ?? '',
      limit,
      offset,
    )
    return rows.map((r) => r.key)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = undefined
    await this.pool.end()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** Delete every expired row of every table this store has used (the background sweep calls this). */
  async sweep(): Promise<void> {
    if (this.sweeping || this.closed) return
    this.sweeping = true
    try {
      for (const [name, t] of this.targets) {
        if (!this.ready.has(name)) continue
        try {
          await this.query(t, `DELETE FROM ${t.qualified} WHERE expiry <= now()`, [])
        } catch (err) {
          this.logger.warn({ err: (err as Error).message, table: name }, 'expired-row sweep failed')
        }
      }
    } finally {
      this.sweeping = false
    }
  }

  /**
   * Live rows matching prefix and suffix, in key order, after offset and then limit (0 = no
   * limit), all in SQL. The same statement deletes the expired rows it meets, skipping rows
   * another session holds, so concurrent readers never wait for each other.
   */
  private async range<R extends pg.QueryResultRow>(
    t: Target,
    columns: string,
    prefix: string,
    suffix: string,
    limit: number,
    offset: number,
  ): Promise<R[]> {
    const params: unknown[] = []
    const filters: string[] = []
    // Two separate LIKEs: one pattern `prefix%suffix` would miss keys where prefix and suffix overlap.
    if (prefix) {
      params.push(`${escapeLike(prefix)}%`)
      filters.push(`key LIKE $${params.length}`)
    }
    if (suffix) {
      params.push(`%${escapeLike(suffix)}`)
      filters.push(`key LIKE $${params.length}`)
    }
    const where = filters.length > 0 ? filters.join(' AND ') : 'TRUE'
    params.push(limit > 0 ? limit : null, offset)
    const n = params.length
    return this.query<R>(
      t,
      `WITH swept AS (
         DELETE FROM ${t.qualified} WHERE key IN (
           SELECT key FROM ${t.qualified} WHERE ${where} AND expiry <= now() FOR UPDATE SKIP LOCKED))
       SELECT ${columns} FROM ${t.qualified} WHERE ${where} AND ${LIVE}
       ORDER BY key COLLATE "C" LIMIT $${n - 1} OFFSET $${n}`,
      params,
    )
  }

  /**
   * Run one statement on `t`, creating the table first if this store has not yet. Connection
   * failures (server down or restarting, a pooled connection cut) are retried until the connect
   * timeout has passed; every statement here is idempotent, so a retry is safe.
   */
  private async query<R extends pg.QueryResultRow>(t: Target, text: string, params: unknown[]): Promise<R[]> {
    const deadline = Date.now() + this.options.connectTimeout
    let delay = 50
    let recreated = false
    for (;;) {
      try {
        await this.ensure(t)
        const result = await this.pool.query<R>(text, params)
        return result.rows
      } catch (err) {
        const code = (err as { code?: string }).code ?? ''
        if (MISSING_TABLE.has(code) && !recreated) {
          // Dropped behind our back: create it again, once.
          this.ready.delete(t.qualified)
          recreated = true
          continue
        }
        if (this.closed) throw new MicroError(STORE_ERROR_ID, 503, 'store is closed')
        if (!isConnectionError(err) || Date.now() + delay >= deadline) throw this.toMicroError(err)
        this.logger.debug({ err: (err as Error).message }, 'postgres unavailable, retrying')
        await new Promise((resolve) => setTimeout(resolve, delay))
        delay = Math.min(delay * 2, 500, Math.max(20, this.options.connectTimeout / 4))
      }
    }
  }

  /** Create the schema, table and indexes once per table; concurrent callers share one attempt. */
  private ensure(t: Target): Promise<void> {
    let pending = this.ready.get(t.qualified)
    if (!pending) {
      pending = this.create(t)
      this.ready.set(t.qualified, pending)
      // A failed attempt is forgotten so the next call tries again.
      pending.catch(() => {
        if (this.ready.get(t.qualified) === pending) this.ready.delete(t.qualified)
      })
    }
    return pending
  }

  private async create(t: Target): Promise<void> {
    const client = await this.pool.connect()
    try {
      // An existing table is used as it is: CREATE SCHEMA checks its privilege before IF NOT EXISTS,
      // and an application role may only have been granted the table.
      const found = await client.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [
        t.qualified,
      ])
      if (found.rows[0]?.found) return
      await client.query('BEGIN')
      // `IF NOT EXISTS` alone still races on the catalog's unique indexes; the lock orders concurrent creators.
      await client.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK])
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${t.schema}`)
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${t.qualified} (
           key text COLLATE "C" NOT NULL,
           value bytea,
           metadata jsonb,
           expiry timestamptz,
           CONSTRAINT ${t.pkey} PRIMARY KEY (key))`,
      )
      await client.query(`CREATE INDEX IF NOT EXISTS ${t.keyIndex} ON ${t.qualified} USING btree (key)`)
      await client.query(
        `CREATE INDEX IF NOT EXISTS ${t.metadataIndex} ON ${t.qualified} USING gin (metadata)`,
      )
      await client.query(
        `CREATE INDEX IF NOT EXISTS ${t.expiryIndex} ON ${t.qualified} (expiry) WHERE expiry IS NOT NULL`,
      )
      await client.query('COMMIT')
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      client.release()
    }
  }

  private target(scope: { database?: string; table?: string }): Target {
    checkName('database', scope.database)
    checkName('table', scope.table)
    const database = scope.database || this.options.database
    const table = scope.table || this.options.table
    const t = target(database, table)
    if (!this.targets.has(t.qualified)) this.targets.set(t.qualified, t)
    return t
  }

  private checkOpen(): void {
    if (this.closed) throw new MicroError(STORE_ERROR_ID, 503, 'store is closed')
  }

  private toMicroError(err: unknown): MicroError {
    if (err instanceof MicroError) return err
    const e = err as Error & { code?: string }
    const code = e.code ?? ''
    const where = this.options.displayAddress
    const detail = `postgres store: ${e.message || String(err)}`
    let status = 500
    if (code === '28P01' || code === '28000') status = 401
    else if (code === '42501') status = 403
    else if (code === '57014') status = 408
    else if (code.startsWith('22') || code === '54000') status = 400
    else if (isConnectionError(err) || code === '3D000' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      status = 503
    const message = status === 503 || status === 401 || status === 403 ? `${detail} (${where})` : detail
    return new MicroError(STORE_ERROR_ID, status, message, undefined, { cause: err })
  }
}

function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string }
  const code = e?.code ?? ''
  if (LOST_CONNECTION.has(code) || SERVER_GOING.has(code) || code.startsWith('08')) return true
  const message = e?.message ?? ''
  return (
    message.includes('Connection terminated') ||
    message.includes('timeout exceeded when trying to connect') ||
    message.includes('Client has encountered a connection error')
  )
}

function toRecord(row: Row): StoreRecord {
  const record: StoreRecord = {
    key: row.key,
    value: row.value ? new Uint8Array(row.value) : new Uint8Array(),
  }
  if (row.metadata !== null && row.metadata !== undefined) record.metadata = row.metadata
  // Never 0 for a live row: 0 would read as "already expired".
  if (row.ttl !== null && row.ttl !== undefined) record.expiry = Math.max(1, Math.ceil(row.ttl))
  return record
}

interface Expiry {
  expired: boolean
  ttl?: number
  at?: Date
}

/** Precedence as in go-micro: options.ttl, then options.expiry, then the record's own expiry. */
function resolveExpiry(record: StoreRecord, options: WriteOptions): Expiry {
  const fromTtl = (name: string, ms: unknown): Expiry => {
    if (typeof ms !== 'number' || Number.isNaN(ms))
      throw badRequest(`${name} must be a number of milliseconds`)
    if (ms <= 0) return { expired: true }
    return ms === Number.POSITIVE_INFINITY ? { expired: false } : { expired: false, ttl: ms }
  }
  if (options.ttl !== undefined) return fromTtl('ttl', options.ttl)
  if (options.expiry !== undefined) {
    if (!(options.expiry instanceof Date) || Number.isNaN(options.expiry.getTime())) {
      throw badRequest('expiry must be a valid Date')
    }
    return options.expiry.getTime() <= Date.now() ? { expired: true } : { expired: false, at: options.expiry }
  }
  if (record.expiry !== undefined) return fromTtl('record expiry', record.expiry)
  return { expired: false }
}

function encodeMetadata(metadata: unknown): string | null {
  if (metadata === undefined || metadata === null) return null
  if (typeof metadata !== 'object' || Array.isArray(metadata))
    throw badRequest('record metadata must be an object')
  try {
    return JSON.stringify(metadata)
  } catch (err) {
    throw new MicroError(
      STORE_ERROR_ID,
      400,
      `record metadata must be JSON: ${(err as Error).message}`,
      undefined,
      { cause: err },
    )
  }
}

function badRequest(detail: string): MicroError {
  return new MicroError(STORE_ERROR_ID, 400, detail)
}

/** A lone UTF-16 surrogate would be stored as U+FFFD: a different key. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

function checkKey(name: string, key: unknown): void {
  if (typeof key !== 'string') throw badRequest(`${name} must be a string`)
  if (key.includes('\0'))
    throw badRequest(`${name} must not contain NUL characters (PostgreSQL text cannot hold them)`)
  if (LONE_SURROGATE.test(key))
    throw badRequest(`${name} must be well-formed Unicode (it has a lone surrogate)`)
}

function checkName(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'string') throw badRequest(`${name} must be a string`)
}

function checkCount(name: string, n: unknown): number {
  if (n === undefined) return 0
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw badRequest(`${name} must be a non-negative integer, got ${String(n)}`)
  }
  return n
}

/** Create a PostgreSQL store. Connections are opened on first use. */
export function createPostgresStore(options: PostgresStoreOptions = {}): PostgresStore {
  return new PostgresStore(options)
}
