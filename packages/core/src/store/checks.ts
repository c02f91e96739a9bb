/**
 * Input checks every store makes the same way: keys, scope names, counts, records, expiry
 * precedence, metadata, and identifiers that must fit a database's name limit. Each failure is a
 * 400 MicroError with the store id, so a caller sees the same error whatever the backend.
 */
import { createHash } from 'node:crypto'
import { errors, type MicroError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { StoreRecord, WriteOptions } from './types.js'

/** The error id every store error carries (go-micro's store package). */
export const STORE_ERROR_ID = 'go.micro.store'

function badRequest(detail: string, cause?: unknown): MicroError {
  return errors.badRequest(STORE_ERROR_ID, detail, cause)
}

/** A lone UTF-16 surrogate would be stored as U+FFFD: a different key. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

export interface KeyRules {
  /** The backend cannot hold NUL characters (PostgreSQL text): refuse them. */
  noNul?: string
  /** Refuse the empty string. */
  nonEmpty?: boolean
}

/** A key (or prefix, suffix) the backend stores as given. */
export function checkKey(what: string, key: unknown, rules: KeyRules = {}): asserts key is string {
  if (typeof key !== 'string') throw badRequest(`${what} must be a string`)
  if (rules.nonEmpty && key.length === 0) throw badRequest(`${what} must be a non-empty string`)
  if (rules.noNul && key.includes('\0'))
    throw badRequest(`${what} must not contain NUL characters (${rules.noNul})`)
  if (LONE_SURROGATE.test(key))
    throw badRequest(`${what} must be well-formed Unicode (it has a lone surrogate)`)
}

/** An optional string option (a database, table, prefix or suffix name). */
export function checkName(what: string, value: unknown): asserts value is string | undefined {
  if (value !== undefined && typeof value !== 'string') throw badRequest(`${what} must be a string`)
}

/** `limit` / `offset`: a non-negative integer; undefined is 0 (no limit / no offset). */
export function checkCount(what: string, n: unknown): number {
  if (n === undefined) return 0
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw badRequest(`${what} must be a non-negative integer, got ${String(n)}`)
  }
  return n
}

/** A record to write: a non-empty string key, bytes, metadata an object when given. */
export function checkRecord(record: unknown, rules: KeyRules = {}): asserts record is StoreRecord {
  if (!record || typeof record !== 'object') throw badRequest('record must be an object')
  const { key, value, metadata } = record as Partial<StoreRecord>
  checkKey('record key', key, { ...rules, nonEmpty: true })
  if (!(value instanceof Uint8Array)) throw badRequest('record value must be a Uint8Array')
  if (
    metadata !== undefined &&
    (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))
  ) {
    throw badRequest('record metadata must be an object')
  }
}

/** When a written record expires: already (the write removes the key), at an instant, or never. */
export type Expiry = { expired: true } | { expired: false; at?: number }

/**
 * Precedence as in go-micro: `options.ttl`, then `options.expiry`, then the record's own
 * `expiry` (ms to live). A ttl <= 0 or an expiry in the past means already expired; Infinity
 * means never. `at` is epoch milliseconds.
 */
export function resolveExpiry(record: StoreRecord, options: WriteOptions = {}, now = Date.now()): Expiry {
  const fromTtl = (what: string, ms: unknown): Expiry => {
    if (typeof ms !== 'number' || Number.isNaN(ms))
      throw badRequest(`${what} must be a number of milliseconds`)
    if (ms <= 0) return { expired: true }
    if (ms === Number.POSITIVE_INFINITY) return { expired: false }
    if (now + ms > 8.64e15) throw badRequest(`${what} is too large: ${ms} ms`)
    return { expired: false, at: now + ms }
  }
  if (options.ttl !== undefined) return fromTtl('ttl', options.ttl)
  if (options.expiry !== undefined) {
    if (!(options.expiry instanceof Date) || Number.isNaN(options.expiry.getTime())) {
      throw badRequest('expiry must be a valid Date')
    }
    const at = options.expiry.getTime()
    return at <= now ? { expired: true } : { expired: false, at }
  }
  if (record.expiry !== undefined) return fromTtl('record expiry', record.expiry)
  return { expired: false }
}

/** Metadata as JSON text for a column, or null when there is none. Not JSON-able is a 400. */
export function encodeMetadata(metadata: unknown): string | null {
  if (metadata === undefined || metadata === null) return null
  if (typeof metadata !== 'object' || Array.isArray(metadata))
    throw badRequest('record metadata must be an object')
  try {
    return JSON.stringify(metadata)
  } catch (err) {
    throw badRequest(`record metadata must be JSON: ${(err as Error).message}`, err)
  }
}

/**
 * A name that fits a database's identifier limit (PostgreSQL 63 bytes, MySQL 64 characters):
 * short names are returned as they are; a longer one becomes its first characters, `_`, and 8
 * hex digits of its SHA-256, so two long names that share a prefix stay distinct and the same
 * name always maps to the same identifier. `name` must already be in the backend's alphabet.
 */
export function boundedIdentifier(name: string, maxBytes: number): string {
  if (Buffer.byteLength(name) <= maxBytes) return name
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8)
  let head = name.slice(0, maxBytes - hash.length - 1)
  while (Buffer.byteLength(head) > maxBytes - hash.length - 1) head = head.slice(0, -1)
  return `${head}_${hash}`
}

/** What a store plugin's `create()` receives, as far as its target goes. */
export interface StoreContext<O> {
  addresses: string[]
  options: O
  database?: string
  table?: string
  logger: Logger
}

/**
 * A store plugin's options for its factory: `MICRO_STORE_ADDRESS` (the first address: a store
 * talks to one server; more are logged and ignored), `MICRO_STORE_DATABASE` and
 * `MICRO_STORE_TABLE` over the same options given in code, and the logger.
 */
export function storeOptionsFrom<O extends { address?: string; database?: string; table?: string }>(
  ctx: StoreContext<O>,
  label: string,
): O & { logger: Logger } {
  if (ctx.addresses.length > 1) {
    ctx.logger.warn({ addresses: ctx.addresses.length }, `${label}: using the first address only`)
  }
  return {
    ...ctx.options,
    address: ctx.addresses[0] ?? ctx.options.address,
    database: ctx.database || ctx.options.database,
    table: ctx.table || ctx.options.table,
    logger: ctx.logger,
  }
}
