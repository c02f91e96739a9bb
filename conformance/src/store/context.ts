/**
 * What every store group shares: the resolved knobs, per-test instances, the four scopes
 * go-micro runs its store tests in, and small read/write helpers.
 */
import type { ScopeOptions, Store, StoreRecord } from '@micro-ts/core'
import { describe } from 'vitest'
import { type Harness, harness, has } from '../suite.js'
import { expectMicroError, utf8 } from '../util.js'
import type { StoreCapability, StoreConformanceSpec } from './index.js'

export interface StoreSuite {
  spec: StoreConformanceSpec
  has(capability: StoreCapability): boolean
  h: Harness<Store>
  /** The TTL the TTL cases use, ms (300, or 1 000 with `seconds`). */
  ttl: number
  tolerance: number
  db1: string
  db2: string
  t1: string
  t2: string
  large: number
  concurrency: number
  visibility: number
  /** One `describe` per scope (go-micro runs its store tests for each combination). */
  eachScope(body: (scope: ScopeOptions) => void): void
}

/** Must be called inside the suite's `describe` body (the harness registers an `afterEach`). */
export function storeContext(spec: StoreConformanceSpec): StoreSuite {
  const o = spec.options ?? {}
  const seconds = o.ttlGranularity === 'seconds'
  const [db1, db2] = o.databases ?? ['conformance', 'conformance_b']
  const [t1, t2] = o.tables ?? ['records', 'records_b']
  const scopes: Array<{ label: string; options: ScopeOptions }> = [
    { label: 'store defaults', options: {} },
    { label: 'table only', options: { table: t1 } },
    { label: 'database only', options: { database: db1 } },
    { label: 'database and table', options: { database: db1, table: t1 } },
  ]
  return {
    spec,
    has: (capability) => has(spec, capability),
    h: harness('store', spec, (s) => s.close(), o.closeTimeout),
    // Long enough that a write and its read-back fit inside it on a loaded 2-core CI machine.
    ttl: seconds ? 2_000 : 1_000,
    tolerance: o.expiryTolerance ?? (seconds ? 2_000 : 1_000),
    db1,
    db2,
    t1,
    t2,
    large: o.largeValueSize ?? 1024 * 1024,
    concurrency: o.concurrency ?? 100,
    visibility: o.visibilityTimeout ?? 2_000,
    eachScope(body) {
      for (const { label, options } of scopes) describe(`scope: ${label}`, () => body(options))
    },
  }
}

/** Write `keys` (value = the key's bytes) in the order given. */
export async function writeAll(
  store: Store,
  keys: readonly string[],
  scope: ScopeOptions = {},
): Promise<void> {
  for (const key of keys) await store.write({ key, value: utf8(key) }, scope)
}

export async function keysOf(records: Promise<StoreRecord[]>): Promise<string[]> {
  return (await records).map((r) => r.key)
}

/** A read of `key` is a 404. */
export async function expectGone(store: Store, key: string, scope: ScopeOptions = {}): Promise<void> {
  await expectMicroError(store.read(key, scope), 404)
}
