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
import { createPool, type Pool, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise'
import { errors, type MySQLStoreOptions, type ResolvedMySQLOptions, resolveOptions } from './options.js'
import * as sql from './sql.js'

/** The largest key the table holds: `VARBINARY(255)`. */
export const MAX_KEY_BYTES = 255

/** DATETIME's last instant: longer TTLs are cut to reach it (never reached in practice). */
const MAX_DATETIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

/** Rows deleted per statement by the background sweep, so one sweep never holds long locks. */
const SWEEP_BATCH = 1000

/** Codes after which a statement is retried once on a fresh connection: the old one died under it. */
const CONNECTION_LOST = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'ECONNRESET',
  'EPIPE',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_SERVER_GONE_ERROR',
])
/** Codes meaning the server cannot be reached at all. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ER_CON_COUNT_ERROR',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  ...CONNECTION_LOST,
])
/** Lock conflicts between concurrent writers: InnoDB asks the client to run the statement again. */
const LOCK_CONFLICT = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT'])
/** The database or table vanished (dropped by someone else): create it again and retry. */
const MISSING = new Set(['ER_NO_SUCH_TABLE', 'ER_BAD_DB_ERROR'])

interface Row extends RowDataPacket {
  key: Buffer
  value?: Buffer
  metadata?: string | null
  /** Microseconds left (TIMESTAMPDIFF): a number, or a string when beyond 2^53. */
  ttl?: number | string | null
}

interface Scope {
  database: string
  table: string
}

/** go-micro's store error for a missing key is exactly `not found`, without a label. */
const notFound = () => pluginErrors('store').notFound('not found')

/** A key as the bytes stored: a string the kit accepts, at most 255 bytes in UTF-8 (the column's width). */
function keyBytes(key: unknown, what = 'key'): Buffer {
  checkKey(what, key)
  const bytes = Buffer.from(key, 'utf8')
  if (bytes.length > MAX_KEY_BYTES) {
    throw errors.badRequest(
      `${what} is ${bytes.length} bytes in UTF-8; keys are at most ${MAX_KEY_BYTES} bytes`,
    )
  }
  return bytes
}

function errorCode(err: unknown): string {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    ? (err as { code: string }).code
    : ''
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || errorCode(err) || err.name
  return String(err)
}

/**
 * A store on MySQL or MariaDB (`MICRO_STORE=mysql`): database = MySQL database, table = table
 * (`key VARBINARY(255) PRIMARY KEY, value LONGBLOB, metadata JSON, expiry DATETIME(3) NULL`).
 * The whole store contract: prefix, suffix, limit and offset in SQL with filters before paging,
 * results in byte order of the key, TTLs in milliseconds, metadata kept as JSON; expired rows are
 * never returned and are swept lazily and by an unref'd timer.
 */
export class MySQLStore implements Store {
  readonly name = 'mysql'
  /** The options in effect, defaults applied (credentials included: do not log them). */
  readonly resolvedOptions: Readonly<ResolvedMySQLOptions>
  private readonly logger: Logger
  private readonly pool: Pool
  /** One CREATE DATABASE/TABLE per (database, table); dropped on failure so the next call tries again. */
  private readonly tables = new Map<string, { scope: Scope; ready: Promise<void> }>()
  /** The server's `max_allowed_packet`, read once: larger values are refused with a 413 before sending. */
  private maxPacket: Promise<number> | undefined
  private sweeper: NodeJS.Timeout | undefined
  private sweeping: Promise<void> | undefined
  private closed = false

  constructor(options: MySQLStoreOptions = {}) {
    this.resolvedOptions = resolveOptions(options)
    this.logger = (options.logger ?? silentLogger).child({ store: 'mysql' })
    const o = this.resolvedOptions
    this.pool = createPool({
      host: o.host,
      port: o.port,
      user: o.user,
      password: o.password,
      // TLS only when asked for: the material, or {} to verify against the system's roots.
      ssl: o.tls && { ...o.tls }, // a copy: mysql2 adds to the object it is given
      connectionLimit: o.maxConnections,
      maxIdle: o.maxConnections,
      idleTimeout: o.idleTimeout,
      connectTimeout: o.connectTimeout,
      waitForConnections: true,
      queueLimit: 0,
      enableKeepAlive: true,
      charset: 'utf8mb4',
      // JSON as text: the same on MySQL (a JSON type) and MariaDB (LONGTEXT); we parse it ourselves.
      jsonStrings: true,
      supportBigNumbers: true,
      multipleStatements: false,
      // Statements are prepared once per connection and cached. mysql2's default cache (16 000 per
      // connection) would let a pool outgrow the server's max_prepared_stmt_count (16 382 in all);
      // evicted statements are closed on the server.
      maxPreparedStatements: 100,
    })
    if (o.sweepInterval > 0) {
      this.sweeper = setInterval(() => {
        this.sweep().catch((err) => this.logger.warn({ err: errorText(err) }, 'mysql store sweep failed'))
      }, o.sweepInterval)
      this.sweeper.unref()
    }
  }

  /** The server address with the password masked. */
  get address(): string {
    return this.resolvedOptions.displayAddress
  }

  /**
   * Check the server is reachable and the credentials work, and create the default database and
   * table. Optional: every operation does the same on first use. Fails with a 503 (unreachable),
   * 401 (credentials) or 403 (privileges) MicroError.
   */
  async connect(): Promise<void> {
    this.checkOpen()
    try {
      await this.ensure(this.scope({}))
    } catch (err) {
      throw this.toMicroError(err)
    }
  }

  async read(key: string, options: ReadOptions = {}): Promise<StoreRecord[]> {
    this.checkOpen()
    const bytes = keyBytes(key)
    const limit = checkCount('limit', options.limit)
    const offset = checkCount('offset', options.offset)
    const scope = this.scope(options)

    if (!options.prefix && !options.suffix) {
      const rows = await this.query<Row[]>(scope, sql.selectOne(scope.database, scope.table), [bytes])
      const row = rows[0]
      if (!row) throw notFound()
      if (row.ttl !== null && row.ttl !== undefined && Number(row.ttl) <= 0) {
        this.deleteExpired(scope, bytes)
        throw notFound()
      }
      return [toRecord(row)]
    }
    const q = sql.selectMatching(scope.database, scope.table, 'records', {
      prefix: options.prefix ? key : '',
      suffix: options.suffix ? key : '',
      limit,
      offset,
    })
    const rows = await this.query<Row[]>(scope, q.sql, q.params)
    return rows.map((row) => toRecord(row))
  }

  async write(record: StoreRecord, options: WriteOptions = {}): Promise<void> {
    this.checkOpen()
    checkRecord(record)
    const { key, value, metadata } = record
    const bytes = keyBytes(key, 'record key')
    const json = encodeMetadata(metadata)
    const scope = this.scope(options)

    const now = Date.now()
    const expiry = resolveExpiry(record, options, now)
    if (expiry.expired) {
      // Already expired: the write replaces the key with nothing.
      await this.query(scope, sql.deleteOne(scope.database, scope.table), [bytes])
      return
    }
    // The server adds the time left to its own clock. DATETIME ends in year 9999: a later expiry
    // is cut to reach it.
    const { at } = expiry
    const micros = at === undefined ? null : String(Math.round((Math.min(at, MAX_DATETIME) - now) * 1000))

    const max = await this.maxPacketSize()
    // The statement carries the value once plus the key, metadata and a few hundred bytes of SQL.
    const size = value.byteLength + bytes.length + (json ? Buffer.byteLength(json) : 0) + 1024
    if (size > max) {
      throw errors.tooLarge(
        `record of ${value.byteLength} bytes exceeds the server's max_allowed_packet (${max} bytes)`,
      )
    }
    await this.query(scope, sql.upsert(scope.database, scope.table), [
      bytes,
      Buffer.from(value),
      json,
      micros,
    ])
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<void> {
    this.checkOpen()
    const bytes = keyBytes(key)
    const scope = this.scope(options)
    await this.query(scope, sql.deleteOne(scope.database, scope.table), [bytes])
  }

  async list(options: ListOptions = {}): Promise<string[]> {
    this.checkOpen()
    for (const name of ['prefix', 'suffix'] as const) {
      if (options[name] !== undefined) keyBytes(options[name], name)
    }
    const limit = checkCount('limit', options.limit)
    const offset = checkCount('offset', options.offset)
    const scope = this.scope(options)
    const q = sql.selectMatching(scope.database, scope.table, 'keys', {
      prefix: options.prefix ?? '',
      suffix: options.suffix ?? '',
      limit,
      offset,
    })
    const rows = await this.query<Row[]>(scope, q.sql, q.params)
    return rows.map((row) => row.key.toString('utf8'))
  }

  /** Stop the sweep and close the pool. Operations afterwards fail with a 503. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = undefined
    await this.sweeping?.catch(() => {})
    await this.pool
      .end()
      .catch((err) => this.logger.warn({ err: errorText(err) }, 'closing the mysql pool failed'))
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** Delete every expired row of the tables this store has used (the background sweep calls this). */
  async sweep(): Promise<void> {
    if (this.closed) return
    if (this.sweeping) return this.sweeping
    const run = async () => {
      for (const { scope } of [...this.tables.values()]) {
        if (this.closed) return
        const statement = sql.deleteExpired(scope.database, scope.table, SWEEP_BATCH)
        for (;;) {
          const result = await this.query<ResultSetHeader>(scope, statement, [])
          if (result.affectedRows < SWEEP_BATCH || this.closed) break
        }
      }
    }
    this.sweeping = run().finally(() => {
      this.sweeping = undefined
    })
    return this.sweeping
  }

  private scope(options: { database?: string; table?: string }): Scope {
    checkName('database', options.database)
    checkName('table', options.table)
    const scope = {
      database: options.database || this.resolvedOptions.database,
      table: options.table || this.resolvedOptions.table,
    }
    // Validate the names now, so bad input fails before any connection is taken.
    sql.tableName(scope.database, scope.table)
    return scope
  }

  /** Lazy sweep of one key found expired; a failure is only logged (the timer sweeps it later). */
  private deleteExpired(scope: Scope, key: Buffer): void {
    this.query(scope, sql.deleteIfExpired(scope.database, scope.table), [key]).catch((err) =>
      this.logger.debug({ err: errorText(err) }, 'mysql store: deleting an expired row failed'),
    )
  }

  /** CREATE DATABASE and TABLE IF NOT EXISTS, once per (database, table) while it succeeds. */
  private ensure(scope: Scope): Promise<void> {
    const id = `${scope.database}\0${scope.table}`
    const known = this.tables.get(id)
    if (known) return known.ready
    const ready = (async () => {
      try {
        await this.pool.query(sql.createDatabase(scope.database))
      } catch (err) {
        // A user without CREATE on the server may still own an existing database: go on and let
        // CREATE TABLE say whether it exists.
        if (
          errorCode(err) !== 'ER_DBACCESS_DENIED_ERROR' &&
          errorCode(err) !== 'ER_SPECIFIC_ACCESS_DENIED_ERROR'
        ) {
          throw err
        }
      }
      await this.pool.query(sql.createTable(scope.database, scope.table))
    })()
    const entry = { scope, ready }
    this.tables.set(id, entry)
    ready.catch(() => {
      if (this.tables.get(id) === entry) this.tables.delete(id)
    })
    return ready
  }

  private maxPacketSize(): Promise<number> {
    this.maxPacket ??= this.pool.query<RowDataPacket[]>('SELECT @@max_allowed_packet AS max').then(
      ([rows]) => Number(rows[0]?.max) || 4 * 1024 * 1024,
      (err) => {
        this.maxPacket = undefined
        throw this.toMicroError(err)
      },
    )
    return this.maxPacket
  }

  /**
   * Run one statement on the table of `scope` (created first when new), as a prepared statement.
   * Retries once when the connection died under it or the table vanished, and a few times on
   * lock conflicts; every failure becomes a MicroError.
   */
  private async query<T extends RowDataPacket[] | ResultSetHeader>(
    scope: Scope,
    statement: string,
    params: (string | Buffer | null)[],
  ): Promise<T> {
    let lostConnection = false
    let recreated = false
    for (let attempt = 0; ; attempt++) {
      try {
        await this.ensure(scope)
        const [result] = await this.pool.execute<T>(statement, params)
        return result
      } catch (err) {
        const code = errorCode(err)
        if (this.closed) throw errors.unavailable('store is closed')
        if (CONNECTION_LOST.has(code) && !lostConnection) {
          lostConnection = true
          continue
        }
        if (MISSING.has(code) && !recreated) {
          recreated = true
          this.tables.delete(`${scope.database}\0${scope.table}`)
          continue
        }
        if (LOCK_CONFLICT.has(code) && attempt < 5) {
          await sleep(5 + Math.random() * 20 * (attempt + 1))
          continue
        }
        throw this.toMicroError(err)
      }
    }
  }

  private toMicroError(err: unknown): MicroError {
    if (err instanceof MicroError) return err
    const code = errorCode(err)
    const text = errorText(err)
    const where = this.resolvedOptions.displayAddress
    // Also when the TLS handshake fails (mysql2's code; Node's verification codes).
    if (UNREACHABLE.has(code) || code === 'HANDSHAKE_SSL_ERROR' || /CERT|^ERR_(TLS|SSL)_/.test(code))
      return errors.unavailable(`cannot reach ${where}: ${text}`, err)
    if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_NOT_SUPPORTED_AUTH_MODE')
      return errors.unauthorized(`authentication failed at ${where}: ${text}`, err)
    if (code.endsWith('ACCESS_DENIED_ERROR'))
      return errors.forbidden(`permission denied at ${where}: ${text}`, err)
    if (code === 'ER_NET_PACKET_TOO_LARGE') return errors.tooLarge(text, err)
    if (code === 'ER_DATA_TOO_LONG' || code === 'ER_TOO_LONG_IDENT' || code === 'ER_WRONG_DB_NAME')
      return errors.badRequest(text, err)
    if (/File name too long|errno: 36\b|Errcode: 36\b/.test(text)) {
      // The server keeps each database in a directory and each table in files named after it,
      // every character outside [A-Za-z0-9_] written in up to 5 bytes of a 255-byte file name, so
      // a name within the 64-character limit can still be too long for it.
      return errors.badRequest(
        `the database or table name is too long for the server's file names (each character outside [A-Za-z0-9_] takes up to 5 of 255 bytes); use a shorter name: ${text}`,
        err,
      )
    }
    if (LOCK_CONFLICT.has(code)) return errors.conflict(text, err)
    return errors.internal(text, err)
  }

  private checkOpen(): void {
    if (this.closed) throw errors.unavailable('store is closed')
  }
}

function toRecord(row: Row): StoreRecord {
  // mysql2 hands a blob out as a view on its packet: the value gets bytes of its own.
  const record: StoreRecord = {
    key: row.key.toString('utf8'),
    value: row.value ? ownedBytes(row.value) : new Uint8Array(),
  }
  if (row.metadata !== null && row.metadata !== undefined) {
    record.metadata = JSON.parse(row.metadata) as Record<string, unknown>
  }
  // Rounded up: a live record always reports at least 1 ms left.
  if (row.ttl !== null && row.ttl !== undefined)
    record.expiry = Math.max(1, Math.ceil(Number(row.ttl) / 1000))
  return record
}

/** Create a MySQL/MariaDB store. Nothing connects until the first operation (or `connect()`). */
export function createMySQLStore(options: MySQLStoreOptions = {}): MySQLStore {
  return new MySQLStore(options)
}
