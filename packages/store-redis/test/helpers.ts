/**
 * What this package's test files share: where the shared Redis is (and whether it answers), a
 * raw client to check what the store wrote, a store factory that closes what it made, and the
 * store-error assertion. Private servers, probes and the other assertions come from
 * `@micro-ts/conformance/testing`.
 */
import { Cleanup, expectMicroError, requireBackend, testAddress } from '@micro-ts/conformance/testing'
import type { Store } from '@micro-ts/core'
import { Redis, type RedisOptions } from 'ioredis'
import { afterEach, expect } from 'vitest'
import { createRedisStore, type RedisStoreOptions } from '../src/index.js'

/** `MICRO_TEST_REDIS_ADDRESS`, else where scripts/backends.sh starts Redis. */
export const REDIS_URL = testAddress('redis', 'redis://127.0.0.1:6379')
export const SHARED = `Redis at ${REDIS_URL}`

/** A raw client that gives up at once instead of reconnecting (tests only). */
export function rawClient(url: string, options: RedisOptions = {}): Redis {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 3000,
    ...options,
  })
  client.on('error', () => {})
  return client
}

/** PING the server at `url` (the probe of the shared server). */
export async function ping(url: string): Promise<void> {
  const client = rawClient(url)
  try {
    await client.connect()
    await client.ping()
  } finally {
    client.disconnect()
  }
}

/** Resolves true when the shared server answers (skip loudly, or fail under CI). */
export function sharedRedis(): Promise<boolean> {
  return requireBackend(SHARED, () => ping(REDIS_URL))
}

/** Delete every key matching `pattern` (SCAN, never KEYS). */
export async function deleteMatching(url: string, pattern: string): Promise<void> {
  const client = rawClient(url)
  await client.connect()
  try {
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await client.del(...keys)
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
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
 * A store factory for one test file: stores get `defaults` and are closed after each test, as are
 * the stores handed to `track` and the raw clients from `raw`.
 */
export function useStores(defaults: () => RedisStoreOptions) {
  const cleanup = new Cleanup(10_000)
  afterEach(() => cleanup.run())
  const track = <S extends Store>(s: S): S => {
    cleanup.add(s.name, () => s.close())
    return s
  }
  const make = (o: RedisStoreOptions = {}) => track(createRedisStore({ ...defaults(), ...o }))
  /** A raw client on `url`, connected, disconnected after the test. */
  const raw = async (url: string): Promise<Redis> => {
    const client = rawClient(url)
    cleanup.add('raw client', () => client.disconnect())
    await client.connect()
    return client
  }
  return Object.assign(make, { track, raw })
}
