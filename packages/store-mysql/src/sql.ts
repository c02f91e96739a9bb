/**
 * Every statement the store runs, built here. Names reach SQL text only through {@link ident};
 * every value is a `?` parameter; LIMIT/OFFSET are validated integers.
 */
import type { MicroError } from '@micro-ts/core'
import { errors } from './options.js'

/** Schemas that belong to the server: a store must never create tables in them. */
const SYSTEM_SCHEMAS = new Set(['mysql', 'information_schema', 'performance_schema', 'sys'])

/** Any surrogate code unit: MySQL identifiers are limited to the Basic Multilingual Plane. */
const SURROGATE = /[\uD800-\uDFFF]/

/**
 * Validate a database, table or column name and quote it with backticks. The only function that
 * puts a name into SQL text. MySQL and MariaDB accept any BMP character except NUL in a quoted
 * identifier, up to 64 characters, not ending in a space; a backtick is written twice.
 */
export function ident(kind: 'database' | 'table' | 'column', name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw badName(kind, name, 'must be a non-empty string')
  if (name.length > 64) throw badName(kind, name, 'is longer than 64 characters')
  if (name.includes('\0')) throw badName(kind, name, 'contains a NUL character')
  if (SURROGATE.test(name))
    throw badName(kind, name, 'contains a character outside the Basic Multilingual Plane')
  if (name.endsWith(' ')) throw badName(kind, name, 'ends with a space')
  if (kind === 'database' && SYSTEM_SCHEMAS.has(name.toLowerCase())) {
    throw badName(kind, name, 'is a system schema')
  }
  return `\`${name.replaceAll('`', '``')}\``
}

function badName(kind: string, name: unknown, why: string): MicroError {
  const shown = typeof name === 'string' ? JSON.stringify(name) : String(name)
  return errors.badRequest(`${kind} name ${shown} ${why}`)
}

/** The escape character of our LIKE patterns. Not `\`, whose meaning in literals depends on `NO_BACKSLASH_ESCAPES`. */
const LIKE_ESCAPE = '!'

/** A LIKE pattern that matches `text` literally: the escape character, `%` and `_` are escaped. */
export function likeLiteral(text: string): string {
  return text.replace(/[!%_]/g, (c) => LIKE_ESCAPE + c)
}

/** Column names, quoted once. */
const KEY = ident('column', 'key')
const VALUE = ident('column', 'value')
const METADATA = ident('column', 'metadata')
const EXPIRY = ident('column', 'expiry')

/** `db`.`table`, both validated and quoted. */
export function tableName(database: string, table: string): string {
  return `${ident('database', database)}.${ident('table', table)}`
}

export function createDatabase(database: string): string {
  return `CREATE DATABASE IF NOT EXISTS ${ident('database', database)} CHARACTER SET utf8mb4`
}

/**
 * The table. The key is VARBINARY: byte order (UTF-8 bytes sort as code points) on every server
 * and collation, and no PAD SPACE rule making `a` and `a ` the same key.
 */
export function createTable(database: string, table: string): string {
  return (
    `CREATE TABLE IF NOT EXISTS ${tableName(database, table)} (` +
    `${KEY} VARBINARY(255) NOT NULL, ` +
    `${VALUE} LONGBLOB NOT NULL, ` +
    `${METADATA} JSON NULL, ` +
    `${EXPIRY} DATETIME(3) NULL, ` +
    `PRIMARY KEY (${KEY}), ` +
    `KEY ${ident('column', 'micro_expiry')} (${EXPIRY})` +
    ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4'
  )
}

/**
 * Expiry runs on the server's clock (UTC_TIMESTAMP, the same on MySQL and MariaDB, whatever the
 * session time zone), so instances on hosts with skewed clocks agree on what has expired.
 */
const NOW = 'UTC_TIMESTAMP(3)'
/** Time left in microseconds (NULL: never expires; <= 0: expired). */
const TTL_LEFT = `TIMESTAMPDIFF(MICROSECOND, ${NOW}, ${EXPIRY}) AS ${ident('column', 'ttl')}`
const LIVE = `(${EXPIRY} IS NULL OR ${EXPIRY} > ${NOW})`

export function selectOne(database: string, table: string): string {
  return `SELECT ${KEY}, ${VALUE}, ${METADATA}, ${TTL_LEFT} FROM ${tableName(database, table)} WHERE ${KEY} = ?`
}

export interface MatchQuery {
  sql: string
  /** The LIKE patterns, in order. */
  params: Buffer[]
}

/**
 * Live rows matching prefix and suffix, in key order, after offset and then limit (0 = no limit).
 * `columns: 'keys'` selects the key alone (list), `'records'` the whole row (read).
 */
export function selectMatching(
  database: string,
  table: string,
  columns: 'keys' | 'records',
  filter: { prefix: string; suffix: string; limit: number; offset: number },
): MatchQuery {
  const what = columns === 'keys' ? KEY : `${KEY}, ${VALUE}, ${METADATA}, ${TTL_LEFT}`
  const params: Buffer[] = []
  let sql = `SELECT ${what} FROM ${tableName(database, table)} WHERE ${LIVE}`
  if (filter.prefix) {
    sql += ` AND ${KEY} LIKE ? ESCAPE '${LIKE_ESCAPE}'`
    params.push(Buffer.from(`${likeLiteral(filter.prefix)}%`, 'utf8'))
  }
  if (filter.suffix) {
    sql += ` AND ${KEY} LIKE ? ESCAPE '${LIKE_ESCAPE}'`
    params.push(Buffer.from(`%${likeLiteral(filter.suffix)}`, 'utf8'))
  }
  sql += ` ORDER BY ${KEY}`
  // MySQL has no OFFSET without LIMIT; the largest BIGINT UNSIGNED stands for "no limit".
  if (filter.limit > 0 || filter.offset > 0) {
    sql += ` LIMIT ${filter.limit > 0 ? integer(filter.limit) : '18446744073709551615'}`
    if (filter.offset > 0) sql += ` OFFSET ${integer(filter.offset)}`
  }
  return { sql, params }
}

/**
 * Parameters: key, value, metadata, time to live in microseconds (NULL: never expires).
 * VALUES() rather than MySQL 8's row alias: MariaDB has only the former.
 */
export function upsert(database: string, table: string): string {
  return (
    `INSERT INTO ${tableName(database, table)} (${KEY}, ${VALUE}, ${METADATA}, ${EXPIRY}) ` +
    `VALUES (?, ?, ?, DATE_ADD(${NOW}, INTERVAL ? MICROSECOND)) ` +
    `ON DUPLICATE KEY UPDATE ${VALUE} = VALUES(${VALUE}), ${METADATA} = VALUES(${METADATA}), ${EXPIRY} = VALUES(${EXPIRY})`
  )
}

export function deleteOne(database: string, table: string): string {
  return `DELETE FROM ${tableName(database, table)} WHERE ${KEY} = ?`
}

/** Delete one key only while it is expired (the lazy sweep: a concurrent rewrite survives). */
export function deleteIfExpired(database: string, table: string): string {
  return `DELETE FROM ${tableName(database, table)} WHERE ${KEY} = ? AND ${EXPIRY} <= ${NOW}`
}

/** One batch of the background sweep. */
export function deleteExpired(database: string, table: string, batch: number): string {
  return `DELETE FROM ${tableName(database, table)} WHERE ${EXPIRY} <= ${NOW} LIMIT ${integer(batch)}`
}

function integer(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not a non-negative integer: ${n}`)
  return String(n)
}
