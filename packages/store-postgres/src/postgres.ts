import { createHash } from 'node:crypto'
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
  type Backoff,
  backoff,
  boundedIdentifier,
  checkCount,
  checkKey,
  checkName,
  checkRecord,
  encodeMetadata,
  type KeyRules,
  pluginErrors,
  resolveExpiry,
  sleep,
} from '@micro-ts/core/plugin'
import pg from 'pg'
import { errors, type PostgresStoreOptions, type ResolvedPostgresOptions, resolveOptions } from './options.js'

/** PostgreSQL `text` cannot hold NUL characters: keys with them are refused. */
const KEYS: KeyRules = { noNul: 'PostgreSQL text cannot hold them' }
/** go-micro's store error for a missing key is exactly `not found`, without a label. */
const notFound = () => pluginErrors('store').notFound('not found')

/** PostgreSQL's identifier limit (NAMEDATALEN - 1), in bytes. */
const MAX_IDENTIFIER_BYTES = 63

/**
 * go-micro's mapping of a name (every run of characters outside `[a-zA-Z0-9]` becomes `_`),
 * lowercased as PostgreSQL folds go-micro's unquoted names. That mapping sends every character
 * outside ASCII to `_`, so `用户` and `订单` would be one table: a name with such characters keeps
 * 8 hex digits of its SHA-256 after `__` (which the mapping of an ASCII name never holds), and
 * stays apart from every other name.
 */
function mapName(name: string): string {
  const mapped = name.replace(/[^a-zA-Z0-9]+/g, '_').toLowerCase()
  if (!/[^\p{ASCII}]/u.test(name)) return mapped
  return `${mapped}__${createHash('sha256').update(name).digest('hex').slice(0, 8)}`
}

/**
 * The one function that turns a database or table name into SQL: go-micro's mapping (see
 * {@link mapName}), fitted to PostgreSQL's 63-byte limit by the kit's `boundedIdentifier` (a
 * longer name becomes its first 54 characters, `_` and 8 hex digits of its hash: stable, and
 * distinct from every other long name, where PostgreSQL would cut two names sharing their first
 * 63 bytes to one), then double-quoted so reserved words and leading digits are fine too.
 */
export function identifier(name: string): string {
  return `"${boundedIdentifier(mapName(name), MAX_IDENTIFIER_BYTES)}"`
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

/**
 * The table's names. Its constraint and indexes share the schema's namespace with tables, so
 * their names hold a `:`, which no table name can after the mapping: a table may be called
 * `micro_pkey` (go-micro's name for `micro`'s primary key) or `key_index_micro`. Each is bounded
 * on its own, so a long table name never gives its index the table's own name.
 */
function target(database: string, table: string): Target {
  const t = boundedIdentifier(mapName(table), MAX_IDENTIFIER_BYTES)
  const derived = (kind: string) => `"${boundedIdentifier(`${kind}:${t}`, MAX_IDENTIFIER_BYTES)}"`
  return {
    qualified: `${identifier(database)}."${t}"`,
    schema: identifier(database),
    pkey: derived('pkey'),
    keyIndex: derived('key'),
    metadataIndex: derived('metadata'),
    expiryIndex: derived('expiry'),
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
/**
 * Statements are prepared once per connection under a name (pg keeps them per connection), so a
 * call is Bind/Execute only: parsing and planning the statement each time cost more than running
 * it (a read's CTE took 0.2-1.3 ms to plan and 0.1 ms to run). The names are process-wide, one
 * per statement text, so a name never stands for two texts; past this many distinct texts
 * (tables by the hundred), further ones run unnamed rather than pile up on the server.
 */
const MAX_NAMED_STATEMENTS = 500
const statementNames = new Map<string, string>()
function statementName(text: string): string | undefined {
  let name = statementNames.get(text)
  if (name === undefined && statementNames.size < MAX_NAMED_STATEMENTS) {
    name = `micro_store_${statementNames.size}`
    statementNames.set(text, name)
  }
  return name
}

/** admin_shutdown, crash_shutdown, cannot_connect_now (starting up or shutting down). */
const SERVER_GOING = new Set(['57P01', '57P02', '57P03'])
/** undefined_table, invalid_schema_name: someone dropped what this store created. */
const MISSING_TABLE = new Set(['42P01', '3F000'])

/**
 * A store on PostgreSQL in go-micro's layout: each database is a schema, each table a table
 * `(key text primary key, value bytea, metadata jsonb, expiry timestamptz)`. Keys are ordered
 * bytewise (`COLLATE "C"`), expired rows are never returned and are deleted by a read of their
 * key and by a periodic sweep.
 */
export class PostgresStore implements Store {
  readonly name = 'postgres'
  /** The options in effect, defaults applied (credentials included: do not log them). */
  readonly resolvedOptions: Readonly<ResolvedPostgresOptions>
  private readonly logger: Logger
  private readonly pool: pg.Pool
  /** Short enough that a call waiting out an outage sees several attempts within its connect timeout. */
  private readonly retryDelay: Backoff
  /** Tables created (or being created) by this store, by qualified name. */
  private readonly ready = new Map<string, Promise<void>>()
  private readonly targets = new Map<string, Target>()
  /** The same targets by database and table name as given. */
  private readonly byName = new Map<string, Target>()
  private sweeper: NodeJS.Timeout | undefined
  private sweeping = false
  private closed = false

  constructor(options: PostgresStoreOptions = {}) {
    this.resolvedOptions = resolveOptions(options)
    this.logger = (options.logger ?? silentLogger).child({ store: 'postgres' })
    this.retryDelay = backoff({
      base: 50,
      max: Math.min(500, Math.max(50, this.resolvedOptions.connectTimeout / 4)),
    })
    this.pool = new pg.Pool({
      connectionString: this.resolvedOptions.connectionString,
      max: this.resolvedOptions.maxConnections,
      idleTimeoutMillis: this.resolvedOptions.idleTimeout,
      connectionTimeoutMillis: this.resolvedOptions.connectTimeout,
      statement_timeout: this.resolvedOptions.statementTimeout || undefined,
      keepAlive: true,
      allowExitOnIdle: true,
      application_name: 'micro-ts store',
      // Only when the tls options ask for it: otherwise pg follows the URL's sslmode.
      // A copy: pg hides the key on the object it is given.
      ...(this.resolvedOptions.tls ? { ssl: { ...this.resolvedOptions.tls } } : {}),
    })
    // An idle connection that dies (server restart) is dropped by the pool; without a listener the error would crash the process.
    this.pool.on('error', (err) => this.logger.warn({ err: err.message }, 'postgres connection lost'))
    if (this.resolvedOptions.sweepInterval > 0) {
      this.sweeper = setInterval(() => void this.sweep(), this.resolvedOptions.sweepInterval)
      this.sweeper.unref()
    }
  }

  async read(key: string, options: ReadOptions = {}): Promise<StoreRecord[]> {
    this.checkOpen()
    checkKey('key', key, KEYS)
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
      if (rows.length === 0) throw notFound()
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
    checkRecord(record, KEYS)
    const { key, value, metadata } = record
    const meta = encodeMetadata(metadata)
    const t = this.target(options)
    const now = Date.now()
    const expiry = resolveExpiry(record, options, now)
    if (expiry.expired) {
      // Already expired: the write replaces the key with nothing, as the memory store does.
      await this.query(t, `DELETE FROM ${t.qualified} WHERE key = $1`, [key])
      return
    }
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    let expiresAt = 'NULL'
    const params: unknown[] = [key, bytes, meta]
    if (expiry.at !== undefined && options.ttl === undefined && options.expiry !== undefined) {
      // An absolute expiry stays absolute.
      expiresAt = '$4::timestamptz'
      params.push(new Date(expiry.at).toISOString())
    } else if (expiry.at !== undefined) {
      // A TTL counts from the server's clock, the same clock every read compares against.
      expiresAt = `now() + $4::float8 * interval '1 millisecond'`
      params.push(expiry.at - now)
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
    checkKey('key', key, KEYS)
    const t = this.target(options)
    await this.query(t, `DELETE FROM ${t.qualified} WHERE key = $1`, [key])
  }

  async list(options: ListOptions = {}): Promise<string[]> {
    this.checkOpen()
    if (options.prefix !== undefined) checkKey('prefix', options.prefix, KEYS)
    if (options.suffix !== undefined) checkKey('suffix', options.suffix, KEYS)
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
   * limit), all in SQL. A plain SELECT: the expired rows it passes over are left to the sweep,
   * since deleting them in the same statement (a DELETE ... FOR UPDATE SKIP LOCKED beside it)
   * walked the range twice and cost a list a third of its speed.
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
      `SELECT ${columns} FROM ${t.qualified} WHERE ${where} AND ${LIVE}
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
    const deadline = Date.now() + this.resolvedOptions.connectTimeout
    let recreated = false
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ensure(t)
        const result = await this.pool.query<R>({ name: statementName(text), text, values: params })
        return result.rows
      } catch (err) {
        if (err instanceof MicroError) throw err
        const code = (err as { code?: string }).code ?? ''
        if (MISSING_TABLE.has(code) && !recreated) {
          // Dropped behind our back: create it again, once.
          this.ready.delete(t.qualified)
          recreated = true
          continue
        }
        if (this.closed) throw errors.unavailable('store is closed')
        const delay = this.retryDelay(attempt)
        if (!isConnectionError(err) || Date.now() + delay >= deadline) throw this.toMicroError(err)
        this.logger.debug({ err: (err as Error).message }, 'postgres unavailable, retrying')
        await sleep(delay)
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
      const found = await client.query<{ kind: string | null }>(
        'SELECT (SELECT relkind FROM pg_class WHERE oid = to_regclass($1))::text AS kind',
        [t.qualified],
      )
      const kind = found.rows[0]?.kind
      if (kind === 'r' || kind === 'p') return
      if (kind) {
        // Another kind of relation has the name (an index that an older layout named
        // `<table>_pkey`, a view, a sequence): the store cannot use it, and must not replace it.
        throw errors.conflict(
          `${t.qualified} exists and is not a table (relkind ${kind}); use another table name`,
        )
      }
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
    const database = scope.database || this.resolvedOptions.database
    const table = scope.table || this.resolvedOptions.table
    // The quoted names are worked out once per (database, table), not on every call.
    const key = `${database}\0${table}`
    let t = this.byName.get(key)
    if (!t) {
      t = target(database, table)
      this.byName.set(key, t)
      if (!this.targets.has(t.qualified)) this.targets.set(t.qualified, t)
    }
    return t
  }

  private checkOpen(): void {
    if (this.closed) throw errors.unavailable('store is closed')
  }

  private toMicroError(err: unknown): MicroError {
    if (err instanceof MicroError) return err
    const e = err as Error & { code?: string }
    const code = e.code ?? ''
    const where = this.resolvedOptions.displayAddress
    const detail = e.message || String(err)
    let make = errors.internal
    // Problems of where or as whom we connect name the (redacted) address.
    let at = true
    if (code === '28P01' || code === '28000') make = errors.unauthorized
    else if (code === '42501') make = errors.forbidden
    else if (
      isConnectionError(err) ||
      code === '3D000' ||
      code === 'ENOTFOUND' ||
      code === 'EAI_AGAIN' ||
      // The server's certificate is not trusted (Node's TLS verification codes): retrying will not help.
      /CERT|^ERR_(TLS|SSL)_/.test(code)
    )
      make = errors.unavailable
    else {
      at = false
      if (code === '57014') make = errors.timeout
      else if (code.startsWith('22') || code === '54000') make = errors.badRequest
    }
    return make(at ? `${detail} (${where})` : detail, err)
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
    // pg decodes bytea from its hex text into a Buffer of its own: hand it out as a Uint8Array, uncopied.
    value: row.value
      ? new Uint8Array(row.value.buffer, row.value.byteOffset, row.value.byteLength)
      : new Uint8Array(),
  }
  if (row.metadata !== null && row.metadata !== undefined) record.metadata = row.metadata
  // Never 0 for a live row: 0 would read as "already expired".
  if (row.ttl !== null && row.ttl !== undefined) record.expiry = Math.max(1, Math.ceil(row.ttl))
  return record
}

/** Create a PostgreSQL store. Connections are opened on first use. */
export function createPostgresStore(options: PostgresStoreOptions = {}): PostgresStore {
  return new PostgresStore(options)
}
