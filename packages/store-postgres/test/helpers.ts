/**
 * What this package's test files share: where the shared PostgreSQL is (and whether it answers),
 * a raw client to check what the store wrote, a store factory that closes what it made, and the
 * store-error assertion. Private servers,
 * probes and the other assertions come from `@micro-ts/conformance/testing`.
 */
import { Cleanup, expectMicroError, requireBackend, testAddress } from '@micro-ts/conformance/testing'
import type { Store } from '@micro-ts/core'
import { redact } from '@micro-ts/core/plugin'
import pg from 'pg'
import { afterEach, expect } from 'vitest'
import { createPostgresStore, type PostgresStoreOptions } from '../src/index.js'

/** `MICRO_TEST_POSTGRES_ADDRESS`, else where scripts/backends.sh starts PostgreSQL (trust auth, database `test`). */
export const POSTGRES_URL = testAddress('postgres', 'postgresql://postgres@127.0.0.1:5432/test')

/** A raw client for checking what the store wrote. */
export async function rawQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  await client.connect()
  try {
    return (await client.query<R>(text, params)).rows
  } finally {
    await client.end()
  }
}

export const SHARED = `PostgreSQL at ${redact(POSTGRES_URL)}`

/** Resolves true when the shared server answers a query (skip loudly, or fail under CI). */
export function sharedPostgres(): Promise<boolean> {
  return requireBackend(SHARED, () => rawQuery(POSTGRES_URL, 'SELECT 1'))
}

/** A store error: a MicroError with the store's id, and `code` when given. */
export async function storeError(call: Promise<unknown> | (() => unknown), code?: number) {
  const e = await expectMicroError(call, code)
  expect(e.id, e.detail).toBe('go.micro.store')
  return e
}

export const utf8 = (s: string) => new TextEncoder().encode(s)
export const text = (b: Uint8Array) => new TextDecoder().decode(b)

/**
 * A store factory for one test file: stores get `defaults` (and no background sweep unless
 * asked for) and are closed after each test, as is anything handed to `track`.
 */
export function useStores(defaults: PostgresStoreOptions) {
  const cleanup = new Cleanup(10_000)
  afterEach(() => cleanup.run())
  const track = <S extends Store>(s: S): S => {
    cleanup.add(s.name, () => s.close())
    return s
  }
  const make = (o: PostgresStoreOptions = {}) =>
    track(createPostgresStore({ sweepInterval: 0, ...defaults, ...o }))
  return Object.assign(make, { track })
}
