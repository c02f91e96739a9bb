import { MicroError } from '../errors.js'
import { STORE_ERROR_ID } from './checks.js'
import type { DeleteOptions, ListOptions, ReadOptions, Store, StoreRecord, WriteOptions } from './types.js'

export interface MemoryStoreOptions {
  /** Database used when a call names none (default `micro`). */
  database?: string
  /** Table used when a call names none (default `micro`). */
  table?: string
  /** How often expired records are swept in the background, in ms (default 60 000; 0 turns the sweep off). */
  sweepInterval?: number
}

interface Entry {
  value: Uint8Array
  metadata?: Record<string, unknown>
  /** Epoch ms after which the record is gone; absent when it never expires. */
  expiresAt?: number
}

/**
 * One table: a Map for exact lookups plus a sorted key index for ordered and prefix reads.
 * The index is repaired lazily on the next ordered read: a few changes are spliced in by binary
 * search, many are merged in one pass. Bulk writes therefore cost one sort, a write between reads
 * costs a splice, and a prefix read on an unchanged table is a binary search.
 */
class Table {
  readonly entries = new Map<string, Entry>()
  private sorted: string[] = []
  /** Keys written since the index was built that were absent then (possibly deleted again since). */
  private added: string[] = []
  /** Keys deleted since the index was built (possibly written again since). */
  private removed: string[] = []

  set(key: string, entry: Entry): void {
    if (!this.entries.has(key)) this.added.push(key)
    this.entries.set(key, entry)
  }

  delete(key: string): void {
    if (this.entries.delete(key)) this.removed.push(key)
  }

  /** Keys in order, starting at the first key >= `from`. */
  *keysFrom(from: string): Generator<string> {
    const keys = this.index()
    for (let i = lowerBound(keys, from); i < keys.length; i++) yield keys[i]
  }

  private index(): string[] {
    const changes = this.added.length + this.removed.length
    if (changes === 0) return this.sorted
    // A splice moves the array once per change; a merge walks it once for all of them.
    if (changes <= SPLICE_LIMIT) this.splice()
    else this.merge()
    this.added = []
    this.removed = []
    return this.sorted
  }

  private splice(): void {
    const keys = this.sorted
    for (const k of this.removed) {
      if (this.entries.has(k)) continue
      const i = lowerBound(keys, k)
      if (keys[i] === k) keys.splice(i, 1)
    }
    for (const k of this.added) {
      if (!this.entries.has(k)) continue
      const i = lowerBound(keys, k)
      if (keys[i] !== k) keys.splice(i, 0, k)
    }
  }

  private merge(): void {
    const added = this.added.sort(compareKeys)
    const old = this.sorted
    const out: string[] = []
    let i = 0
    let j = 0
    // Drop keys no longer present, and duplicates (a key deleted and written again appears in both runs).
    while (i < old.length || j < added.length) {
      const k = j >= added.length || (i < old.length && old[i] <= added[j]) ? old[i++] : added[j++]
      if (out.length > 0 && out[out.length - 1] === k) continue
      if (this.entries.has(k)) out.push(k)
    }
    this.sorted = out
  }
}

/** Up to this many changes since the last ordered read are spliced into the index; more are merged. */
const SPLICE_LIMIT = 256

/** Code-unit order, the same order `Array.prototype.sort()` gives strings. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function lowerBound(keys: string[], target: string): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (keys[mid] < target) lo = mid + 1
    else hi = mid
  }
  return lo
}

function badRequest(detail: string): MicroError {
  return new MicroError(STORE_ERROR_ID, 400, detail)
}

function notFound(): MicroError {
  return new MicroError(STORE_ERROR_ID, 404, 'not found')
}

function checkCount(name: string, n: number | undefined): number {
  if (n === undefined) return 0
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw badRequest(`${name} must be a non-negative integer, got ${String(n)}`)
  }
  return n
}

function checkName(name: string, value: string | undefined): void {
  if (value !== undefined && typeof value !== 'string') throw badRequest(`${name} must be a string`)
}

function cloneMetadata(metadata: Record<string, unknown>): Record<string, unknown> {
  try {
    return structuredClone(metadata)
  } catch (err) {
    throw new MicroError(
      STORE_ERROR_ID,
      400,
      `metadata cannot be copied: ${(err as Error).message}`,
      undefined,
      { cause: err },
    )
  }
}

/**
 * The embedded in-memory store (`MICRO_STORE=memory`): databases and tables isolated from each
 * other, keys in code-unit order, TTLs in milliseconds. Unlike go-micro's memory store, prefix and
 * suffix filters apply before offset/limit.
 */
export class MemoryStore implements Store {
  readonly name = 'memory'
  private readonly database: string
  private readonly table: string
  private readonly tables = new Map<string, Map<string, Table>>()
  private sweeper: NodeJS.Timeout | undefined
  private closed = false

  constructor(options: MemoryStoreOptions = {}) {
    this.database = options.database || 'micro'
    this.table = options.table || 'micro'
    const interval = options.sweepInterval ?? 60_000
    if (interval > 0) {
      this.sweeper = setInterval(() => this.sweep(), interval)
      this.sweeper.unref()
    }
  }

  async read(key: string, options: ReadOptions = {}): Promise<StoreRecord[]> {
    this.checkOpen()
    if (typeof key !== 'string') throw badRequest('key must be a string')
    const limit = checkCount('limit', options.limit)
    const offset = checkCount('offset', options.offset)
    const table = this.lookup(options, false)
    const now = Date.now()

    if (!options.prefix && !options.suffix) {
      const entry = table?.entries.get(key)
      if (!table || !entry) throw notFound()
      if (expired(entry, now)) {
        table.delete(key)
        throw notFound()
      }
      return [toRecord(key, entry, now)]
    }
    if (!table) return []
    const keys = this.match(table, options.prefix ? key : '', options.suffix ? key : '', limit, offset, now)
    return keys.map((k) => toRecord(k, table.entries.get(k)!, now))
  }

  async write(record: StoreRecord, options: WriteOptions = {}): Promise<void> {
    this.checkOpen()
    if (!record || typeof record !== 'object') throw badRequest('record must be an object')
    const { key, value, metadata, expiry } = record
    if (typeof key !== 'string' || key.length === 0) throw badRequest('record key must be a non-empty string')
    if (!(value instanceof Uint8Array)) throw badRequest('record value must be a Uint8Array')
    if (
      metadata !== undefined &&
      (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))
    ) {
      throw badRequest('record metadata must be an object')
    }
    const now = Date.now()
    let expiresAt: number | undefined
    // Precedence as in go-micro: options.ttl, then options.expiry, then the record's own expiry.
    if (options.ttl !== undefined) expiresAt = now + checkTtl('ttl', options.ttl)
    else if (options.expiry !== undefined) {
      if (!(options.expiry instanceof Date) || Number.isNaN(options.expiry.getTime())) {
        throw badRequest('expiry must be a valid Date')
      }
      expiresAt = options.expiry.getTime()
    } else if (expiry !== undefined) expiresAt = now + checkTtl('record expiry', expiry)

    const table = this.lookup(options, true)!
    if (expiresAt !== undefined && expiresAt <= now) {
      // Already expired: the write replaces the key with nothing.
      table.delete(key)
      return
    }
    table.set(key, {
      value: new Uint8Array(value),
      metadata: metadata === undefined ? undefined : cloneMetadata(metadata),
      expiresAt,
    })
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<void> {
    this.checkOpen()
    if (typeof key !== 'string') throw badRequest('key must be a string')
    this.lookup(options, false)?.delete(key)
  }

  async list(options: ListOptions = {}): Promise<string[]> {
    this.checkOpen()
    checkName('prefix', options.prefix)
    checkName('suffix', options.suffix)
    const limit = checkCount('limit', options.limit)
    const offset = checkCount('offset', options.offset)
    const table = this.lookup(options, false)
    if (!table) return []
    return this.match(table, options.prefix ?? '', options.suffix ?? '', limit, offset, Date.now())
  }

  /** Answers while open. */
  async ping(): Promise<void> {
    this.checkOpen()
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = undefined
    this.tables.clear()
    this.closed = true
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** Drop every expired record now (the background sweep calls this). */
  sweep(): void {
    const now = Date.now()
    for (const tables of this.tables.values()) {
      for (const table of tables.values()) {
        for (const [key, entry] of table.entries) if (expired(entry, now)) table.delete(key)
      }
    }
  }

  /** Live keys matching prefix and suffix, in order, after offset and then limit (0 = no limit). */
  private match(
    table: Table,
    prefix: string,
    suffix: string,
    limit: number,
    offset: number,
    now: number,
  ): string[] {
    const out: string[] = []
    let skip = offset
    for (const key of table.keysFrom(prefix)) {
      if (!key.startsWith(prefix)) break
      if (suffix && !key.endsWith(suffix)) continue
      const entry = table.entries.get(key)!
      if (expired(entry, now)) {
        // Safe mid-walk: the walk holds the index it started with, and deletions only mark it for repair.
        table.delete(key)
        continue
      }
      if (skip > 0) {
        skip--
        continue
      }
      out.push(key)
      if (limit > 0 && out.length >= limit) break
    }
    return out
  }

  private lookup(scope: { database?: string; table?: string }, create: boolean): Table | undefined {
    checkName('database', scope.database)
    checkName('table', scope.table)
    const database = scope.database || this.database
    const name = scope.table || this.table
    let tables = this.tables.get(database)
    if (!tables) {
      if (!create) return undefined
      tables = new Map()
      this.tables.set(database, tables)
    }
    let table = tables.get(name)
    if (!table && create) {
      table = new Table()
      tables.set(name, table)
    }
    return table
  }

  private checkOpen(): void {
    if (this.closed) throw new MicroError(STORE_ERROR_ID, 503, 'store is closed')
  }
}

function checkTtl(name: string, ms: number): number {
  if (typeof ms !== 'number' || Number.isNaN(ms)) throw badRequest(`${name} must be a number of milliseconds`)
  return ms
}

function expired(entry: Entry, now: number): boolean {
  return entry.expiresAt !== undefined && entry.expiresAt <= now
}

function toRecord(key: string, entry: Entry, now: number): StoreRecord {
  const record: StoreRecord = { key, value: new Uint8Array(entry.value) }
  if (entry.metadata !== undefined) record.metadata = structuredClone(entry.metadata)
  if (entry.expiresAt !== undefined) record.expiry = entry.expiresAt - now
  return record
}

/** Create the embedded memory store. */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  return new MemoryStore(options)
}
