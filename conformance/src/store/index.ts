/**
 * The store suite: go-micro's store tests (store/file_test.go, memory_test.go, nats-js-kv) run
 * for the store's defaults, table-only, database-only and database+table scopes, plus the
 * cases the port adds (filters before offset/limit, literal `%`/`_`, exact keys, copies). One
 * file per capability group; this one wires them together.
 */
import type { Store } from '@micro-ts/core'
import { defineSuite } from '../suite.js'
import type { CommonOptions, SuiteSpec } from '../types.js'
import { storeBasics } from './basics.js'
import { storeContext } from './context.js'
import { storeCopies } from './copies.js'
import { storeIsolation } from './isolation.js'
import { storeKeys } from './keys.js'
import { storeMetadata } from './metadata.js'
import { storePrefixSuffix } from './prefix-suffix.js'
import { storeShared } from './shared.js'
import { storeTtl } from './ttl.js'

/**
 * - `ttl`: records expire (record `expiry`, write `ttl` and `expiry` options) and reads report
 *   the remaining time. Absent: a write with a TTL either rejects with a MicroError or the
 *   record outlives the TTL (it is never silently dropped later).
 * - `metadata`: record metadata round-trips. Absent: reads carry no metadata.
 * - `shared`: instances from `create()` share one backend (a write on one is read on another).
 *   Absent: a write on one instance is not visible on another.
 */
export type StoreCapability = 'ttl' | 'metadata' | 'shared'
export const STORE_CAPABILITIES: readonly StoreCapability[] = ['ttl', 'metadata', 'shared']

export interface StoreConformanceOptions extends CommonOptions {
  /**
   * The smallest TTL step the backend honours (etcd leases and Redis `EX` are whole seconds).
   * With `seconds` the TTL cases use 2 s TTLs (default `milliseconds`: 1 s).
   */
  ttlGranularity?: 'milliseconds' | 'seconds'
  /** How long after its expiry a record may still be returned, ms (default 1 000, or 2 000 with `seconds`). */
  expiryTolerance?: number
  /** The two databases the scoped cases use (default `conformance`, `conformance_b`). */
  databases?: readonly [string, string]
  /** The two tables the scoped cases use (default `records`, `records_b`). */
  tables?: readonly [string, string]
  /** Size of the large-value case, bytes (default 1 MiB). */
  largeValueSize?: number
  /** Writers in the concurrency case (default 100). */
  concurrency?: number
  /** `shared`: how long a write on one instance may take to show on another, ms (default 2 000). */
  visibilityTimeout?: number
}

export type StoreConformanceSpec = SuiteSpec<Store, StoreCapability, StoreConformanceOptions>

/** Register the store conformance suite for one store implementation. */
export function storeConformance(spec: StoreConformanceSpec): void {
  defineSuite('store', spec, STORE_CAPABILITIES, () => {
    const t = storeContext(spec)
    storeBasics(t)
    storeCopies(t)
    storeKeys(t)
    storePrefixSuffix(t)
    storeIsolation(t)
    storeMetadata(t)
    storeTtl(t)
    storeShared(t)
  })
}
