/**
 * What this package's test files share: where the shared MySQL/MariaDB is (and whether it
 * answers), SQL as root beside the store, and the store-error assertion. Private servers, probes
 * and the other assertions come from `@micro-ts/conformance/testing`.
 */
import { expectMicroError, requireBackend, testAddress } from '@micro-ts/conformance/testing'
import { redact } from '@micro-ts/core/plugin'
import { createConnection } from 'mysql2/promise'
import { expect } from 'vitest'

/** `MICRO_TEST_MYSQL_ADDRESS`, else where scripts/backends.sh starts MariaDB (root, no password, database `test`). */
export const ADDRESS = testAddress('mysql', 'mysql://root@127.0.0.1:3306/test')
export const SHARED = `MySQL/MariaDB at ${redact(ADDRESS)}`

/** Run SQL on the server at `address` (default the shared one), outside the store (setup and checks). */
export async function admin<T = unknown>(
  statement: string,
  params: unknown[] = [],
  address = ADDRESS,
): Promise<T> {
  const c = await createConnection({
    uri: address.replace(/^mariadb:/, 'mysql:'),
    dateStrings: true,
    connectTimeout: 3000,
  })
  try {
    const [rows] = await c.query(statement, params)
    return rows as T
  } finally {
    await c.end()
  }
}

/** Resolves true when the shared server answers (skip loudly, or fail under CI). */
export function sharedMySQL(): Promise<boolean> {
  return requireBackend(SHARED, () => admin('SELECT 1'))
}

/** A store error: a MicroError with the store's id, and `code` when given. */
export async function storeError(call: Promise<unknown> | (() => unknown), code?: number) {
  const e = await expectMicroError(call, code)
  expect(e.id, e.detail).toBe('go.micro.store')
  return e
}

export const bytes = (s: string) => new TextEncoder().encode(s)
export const text = (b: Uint8Array) => new TextDecoder().decode(b)
