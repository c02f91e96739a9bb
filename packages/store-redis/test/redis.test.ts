/**
 * Redis-specific behaviour beyond the conformance suite, on the shared server: the key layout and
 * envelope, glob safety, key prefixes, ordering, multi-step SCANs, expiry, bad input, unreachable
 * and hanging servers, and the plugin through core's loader.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { deadAddress, RUN_ID, recordingLogger, silentServer } from '@micro-ts/conformance/testing'
import { MicroError } from '@micro-ts/core'
import { createPlugin } from '@micro-ts/core/plugin'
import { afterAll, describe, expect, it } from 'vitest'
import plugin, { decodeEnvelope, encodeEnvelope, encodeName, escapeGlob } from '../src/index.js'
import { deleteMatching, REDIS_URL, sharedRedis, storeError, text, useStores, utf8 } from './helpers.js'

/** Every key this file writes on the shared server starts with this, and is deleted at the end. */
const PREFIX = `micro-redis-test-${RUN_ID}:`
const up = await sharedRedis()

let counter = 0
/** A key prefix of its own for one test, under the file's prefix. */
function prefix(label: string): string {
  counter++
  return `${PREFIX}${label}-${counter}:`
}

const store = useStores(() => ({ address: REDIS_URL, keyPrefix: prefix('store') }))
const raw = (url = REDIS_URL) => store.raw(url)

/** A record string in format 1 (before 0.2): format byte, metadata length, metadata, value. */
function legacyEnvelope(value: string, metadata = ''): Buffer {
  const meta = Buffer.from(metadata)
  const head = Buffer.from([1, 0, 0, 0, 0])
  head.writeUInt32BE(meta.length, 1)
  return Buffer.concat([head, meta, Buffer.from(value)])
}

afterAll(async () => {
  if (up) await deleteMatching(REDIS_URL, `${escapeGlob(PREFIX)}*`)
})

describe('encodings', () => {
  it('encodeName() percent-encodes only % and /', () => {
    expect(encodeName('micro')).toBe('micro')
    expect(encodeName('a/b%c:d*')).toBe('a%2Fb%25c:d*')
  })

  it('escapeGlob() escapes every SCAN MATCH metacharacter', () => {
    expect(escapeGlob('a*b?c[d]e\\f^g')).toBe('a\\*b\\?c\\[d\\]e\\\\f^g')
  })

  it('the envelope keeps value and metadata apart, with or without metadata', () => {
    const value = new Uint8Array([0, 1, 2, 255])
    expect(decodeEnvelope(encodeEnvelope(value, null))).toEqual({ value })
    expect(decodeEnvelope(encodeEnvelope(value, '{"a":[1]}'))).toEqual({ value, metadata: { a: [1] } })
    expect(decodeEnvelope(encodeEnvelope(new Uint8Array(0), '{}'))).toEqual({
      value: new Uint8Array(0),
      metadata: {},
    })
    expect(decodeEnvelope(encodeEnvelope(value, null, 1_800_000_000_123))).toEqual({
      value,
      expiresAt: 1_800_000_000_123,
    })
    expect(() => decodeEnvelope(Buffer.from('plain string'))).toThrow(MicroError)
    expect(() => decodeEnvelope(encodeEnvelope(value, '{"a":1}').subarray(0, 15))).toThrow(/truncated/)
  })

  it('a format-1 envelope (before 0.2: no expiry field) still decodes, marked legacy', () => {
    expect(decodeEnvelope(legacyEnvelope('v', '{"m":1}'))).toEqual({
      value: utf8('v'),
      metadata: { m: 1 },
      legacy: true,
    })
  })
})

describe.runIf(up)('store-redis against Redis', () => {
  describe('layout', () => {
    it('a record is one string under <keyPrefix><database>/<table>/<key>, with its TTL set by PX', async () => {
      const keyPrefix = prefix('layout')
      const s = store({ keyPrefix, database: 'db', table: 'tbl' })
      await s.write({ key: 'a/b', value: utf8('v'), metadata: { m: 1 } }, { ttl: 60_000 })
      await s.write({ key: 'plain', value: utf8('p') })
      const r = await raw()
      const redisKey = `${keyPrefix}db/tbl/a/b`
      expect(await r.type(redisKey)).toBe('string')
      const before = Date.now()
      const envelope = decodeEnvelope((await r.getBuffer(redisKey))!)
      expect(envelope).toMatchObject({ value: utf8('v'), metadata: { m: 1 } })
      expect(envelope.expiresAt).toBeGreaterThan(before + 55_000)
      expect(envelope.expiresAt).toBeLessThanOrEqual(before + 60_000)
      expect(decodeEnvelope((await r.getBuffer(`${keyPrefix}db/tbl/plain`))!).expiresAt).toBeUndefined()
      const pttl = await r.pttl(redisKey)
      expect(pttl).toBeGreaterThan(55_000)
      expect(pttl).toBeLessThanOrEqual(60_000)
      expect(await r.pttl(`${keyPrefix}db/tbl/plain`)).toBe(-1)
    })

    it('databases and tables with /, %, or glob characters in their names never share keys', async () => {
      const s = store()
      const places = [
        { database: 'a/b', table: 'c' },
        { database: 'a', table: 'b/c' },
        { database: 'a%2Fb', table: 'c' },
        { database: 'a', table: 'b' },
        // Glob characters in the names are escaped in SCAN's pattern like those of keys.
        { database: 'a*', table: 'b' },
        { database: 'a?', table: 'b' },
        { database: 'a[b]', table: '*' },
        { database: 'a\\', table: 'b' },
      ]
      for (const [i, place] of places.entries()) await s.write({ key: 'c/k', value: utf8(String(i)) }, place)
      for (const [i, place] of places.entries()) {
        expect(
          (await s.read('c/k', place)).map((r) => text(r.value)),
          JSON.stringify(place),
        ).toEqual([String(i)])
        expect(await s.list(place), JSON.stringify(place)).toEqual(['c/k'])
      }
    })

    it('keyPrefix isolates stores sharing one Redis, even a prefix full of glob characters', async () => {
      const a = store({ keyPrefix: `${prefix('shared')}app[1]*?\\:` })
      const b = store({ keyPrefix: `${prefix('shared')}app1x:` })
      await a.write({ key: 'k', value: utf8('a') })
      await b.write({ key: 'k', value: utf8('b') })
      expect(text((await a.read('k'))[0].value)).toBe('a')
      expect(text((await b.read('k'))[0].value)).toBe('b')
      expect(await a.list()).toEqual(['k'])
      expect(await b.list()).toEqual(['k'])
    })

    it('the database number comes from the address path', async () => {
      const keyPrefix = prefix('dbnum')
      const s = store({ address: `${REDIS_URL}/3`, keyPrefix })
      await s.write({ key: 'k', value: utf8('x') })
      const r3 = await raw(`${REDIS_URL}/3`)
      const r0 = await raw()
      expect(await r3.exists(`${keyPrefix}micro/micro/k`)).toBe(1)
      expect(await r0.exists(`${keyPrefix}micro/micro/k`)).toBe(0)
      await s.delete('k')
    })

    it('a value under the namespace that this store did not write is a 500, not a crash', async () => {
      const keyPrefix = prefix('foreign')
      const s = store({ keyPrefix })
      await (await raw()).set(`${keyPrefix}micro/micro/alien`, 'not an envelope')
      await storeError(s.read('alien'), 500)
      await s.write({ key: 'mine', value: utf8('x') })
      expect(await s.list()).toEqual(['alien', 'mine'])
    })
  })

  describe('keys, filters and order', () => {
    it('glob metacharacters in keys, prefixes and suffixes match only themselves', async () => {
      const s = store()
      const keys = ['a*', 'a*b', 'ab', 'a?', 'a[b]', 'ab]', 'a\\', 'a\\b', '[', '*', 'x^y', 'b']
      for (const key of keys) await s.write({ key, value: utf8(key) })
      expect(await s.list({ prefix: 'a*' })).toEqual(['a*', 'a*b'])
      expect(await s.list({ prefix: 'a?' })).toEqual(['a?'])
      expect(await s.list({ prefix: 'a[' })).toEqual(['a[b]'])
      expect(await s.list({ prefix: 'a\\' })).toEqual(['a\\', 'a\\b'])
      expect(await s.list({ suffix: ']' })).toEqual(['a[b]', 'ab]'])
      expect(await s.list({ suffix: '*' })).toEqual(['*', 'a*'])
      expect((await s.read('*', { prefix: true })).map((r) => r.key)).toEqual(['*'])
      expect((await s.read('x^', { prefix: true })).map((r) => r.key)).toEqual(['x^y'])
    })

    it('a key that is both prefix and suffix of itself matches (overlapping prefix and suffix)', async () => {
      const s = store()
      await s.write({ key: 'aba', value: utf8('x') })
      await s.write({ key: 'ab', value: utf8('x') })
      expect(await s.list({ prefix: 'ab', suffix: 'ba' })).toEqual(['aba'])
      expect(await s.list({ prefix: 'ab', suffix: 'b' })).toEqual(['ab'])
    })

    it('keys are in code-point (UTF-8 byte) order', async () => {
      const s = store()
      const keys = [
        'b',
        'B',
        'a',
        'A',
        '_',
        '~',
        ' ',
        '0',
        'é',
        'e',
        '日',
        '\uFF5E',
        '🚀',
        'aa',
        'a b',
        'nul\0key',
      ]
      for (const key of keys) await s.write({ key, value: utf8(key) })
      const byCodePoint = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
      expect(await s.list()).toEqual(byCodePoint)
      expect(text((await s.read('nul\0key'))[0].value)).toBe('nul\0key')
    })

    it('a SCAN that takes many steps still finds every key once, in order, with filters before offset/limit', async () => {
      const s = store({ scanCount: 3 })
      const keys = Array.from({ length: 60 }, (_, i) => `k-${String(i).padStart(2, '0')}`)
      for (const key of [...keys].reverse()) await s.write({ key, value: utf8(key) })
      for (let i = 0; i < 20; i++) await s.write({ key: `other-${i}`, value: utf8('x') })
      expect(await s.list({ prefix: 'k-' })).toEqual(keys)
      expect(await s.list({ prefix: 'k-', offset: 10, limit: 5 })).toEqual(keys.slice(10, 15))
      expect((await s.read('k-', { prefix: true, offset: 55 })).map((r) => r.key)).toEqual(keys.slice(55))
    })

    it('a 1 MiB binary value is stored byte for byte', async () => {
      const keyPrefix = prefix('large')
      const s = store({ keyPrefix })
      const value = new Uint8Array(randomBytes(1024 * 1024))
      await s.write({ key: 'big', value, metadata: { size: value.length } })
      const [record] = await s.read('big')
      expect(Buffer.compare(Buffer.from(record.value), Buffer.from(value))).toBe(0)
      expect(record.metadata).toEqual({ size: 1024 * 1024 })
      const stored = await (await raw()).strlen(`${keyPrefix}micro/micro/big`)
      expect(stored).toBe(13 + JSON.stringify({ size: 1024 * 1024 }).length + 1024 * 1024)
    })

    it('100 concurrent writers all land', async () => {
      const s = store()
      const keys = Array.from({ length: 100 }, (_, i) => `w-${String(i).padStart(3, '0')}`)
      await Promise.all(keys.map((key) => s.write({ key, value: utf8(key) })))
      expect(await s.list()).toEqual(keys)
      expect((await s.read('w-', { prefix: true })).map((r) => text(r.value))).toEqual(keys)
    })
  })

  describe('expiry', () => {
    it('an absolute expiry becomes a PX TTL; an infinite TTL means none; an already-expired write deletes', async () => {
      const keyPrefix = prefix('expiry')
      const s = store({ keyPrefix })
      await s.write({ key: 'at', value: utf8('x') }, { expiry: new Date(Date.now() + 30_000) })
      const pttl = await (await raw()).pttl(`${keyPrefix}micro/micro/at`)
      expect(pttl).toBeGreaterThan(25_000)
      expect(pttl).toBeLessThanOrEqual(30_000)
      await s.write({ key: 'forever', value: utf8('x') }, { ttl: Number.POSITIVE_INFINITY })
      expect((await s.read('forever'))[0].expiry).toBeUndefined()
      await s.write({ key: 'forever', value: utf8('y') }, { ttl: 0 })
      await storeError(s.read('forever'), 404)
    })

    it('records of the format-1 envelope (TTL only in Redis) read with their PTTL, alone and by prefix', async () => {
      const keyPrefix = prefix('legacy')
      const s = store({ keyPrefix })
      const r = await raw()
      await r.set(`${keyPrefix}micro/micro/old-ttl`, legacyEnvelope('a'), 'PX', 40_000)
      await r.set(`${keyPrefix}micro/micro/old-plain`, legacyEnvelope('b'))
      await s.write({ key: 'old-new', value: utf8('c') }, { ttl: 20_000 })
      const [one] = await s.read('old-ttl')
      expect(text(one.value)).toBe('a')
      expect(one.expiry).toBeGreaterThan(35_000)
      expect(one.expiry).toBeLessThanOrEqual(40_000)
      const all = await s.read('old-', { prefix: true })
      expect(all.map((x) => [x.key, text(x.value)])).toEqual([
        ['old-new', 'c'],
        ['old-plain', 'b'],
        ['old-ttl', 'a'],
      ])
      expect(all[0].expiry).toBeGreaterThan(15_000)
      expect(all[0].expiry).toBeLessThanOrEqual(20_000)
      expect(all[1].expiry).toBeUndefined()
      expect(all[2].expiry).toBeGreaterThan(35_000)
    })

    it('a TTL Redis cannot hold is a 400', async () => {
      const s = store()
      await storeError(s.write({ key: 'far', value: utf8('x') }, { ttl: 1e300 }), 400)
    })
  })

  describe('bad input', () => {
    it('rejects with a 400 MicroError and keeps working', async () => {
      const s = store()
      const bad: [string, () => Promise<unknown>][] = [
        ['lone surrogate', () => s.write({ key: 'a\uDC00', value: utf8('x') })],
        ['lone surrogate prefix', () => s.list({ prefix: '\uD800' })],
        ['non-string key', () => s.read(42 as unknown as string)],
        ['negative limit', () => s.list({ limit: -1 })],
        ['fractional offset', () => s.read('a', { prefix: true, offset: 0.5 })],
        ['non-string table', () => s.list({ table: 7 as unknown as string })],
        ['BigInt metadata', () => s.write({ key: 'm', value: utf8('x'), metadata: { n: 1n } })],
        ['NaN ttl', () => s.write({ key: 'm', value: utf8('x') }, { ttl: Number.NaN })],
        ['empty key', () => s.write({ key: '', value: utf8('x') })],
      ]
      for (const [what, call] of bad) expect((await storeError(call)).code, what).toBe(400)
      await s.write({ key: 'ok', value: utf8('x') })
      expect(await s.list()).toEqual(['ok'])
    })
  })

  describe('connections', () => {
    it('an address where nothing listens fails with a 503 within the connect timeout, password masked', async () => {
      const dead = await deadAddress()
      const s = store({ address: `redis://user:supersecret@${dead}`, connectTimeout: 1000 })
      const started = Date.now()
      const e = await storeError(s.write({ key: 'k', value: utf8('x') }), 503)
      expect(Date.now() - started).toBeLessThan(1000 + 1500)
      expect(e.detail).toContain('ECONNREFUSED')
      expect(e.detail).toContain(dead)
      expect(e.detail).not.toContain('supersecret')
    })

    it('a server that accepts and never answers fails with a 503 within the connect timeout', async () => {
      const silent = await silentServer()
      try {
        const s = store({ address: `redis://127.0.0.1:${silent.port}`, connectTimeout: 1000 })
        const started = Date.now()
        await storeError(s.read('k'), 503)
        expect(Date.now() - started).toBeLessThan(1000 + 1500)
      } finally {
        await silent.close()
      }
    })

    it('calls after close() reject with a 503; close() twice is fine; a never-used store closes at once', async () => {
      const s = store()
      await s.write({ key: 'k', value: utf8('x') })
      await s.close()
      await s.close()
      await storeError(s.read('k'), 503)
      await store().close()
    })
  })

  describe('plugin', () => {
    it('through the loader: the first address (with a warning), options given as strings', async () => {
      const logger = recordingLogger()
      const s = store.track(
        await createPlugin(plugin, {
          addresses: [REDIS_URL, 'second:1'],
          options: { connectTimeout: '3000', scanCount: '10' },
          env: { MICRO_STORE_REDIS_KEY_PREFIX: prefix('opts') },
          logger,
          database: 'plugin_db',
        }),
      )
      await s.write({ key: 'k', value: utf8('x') })
      expect(await s.list({ database: 'plugin_db' })).toContain('k')
      await s.delete('k')
      expect(logger.at('warn').map((l) => l.msg)).toEqual(['redis store: using the first address only'])
    })

    it('MICRO_STORE=redis works through core’s plugin loader, with MICRO_STORE_ADDRESS/DATABASE/TABLE', async () => {
      const keyPrefix = prefix('env')
      const script = `
        import { loadPlugin, readEnv } from '@micro-ts/core'
        const env = readEnv(process.env)
        const store = await loadPlugin('store', env.store.name, {
          addresses: env.store.addresses, database: env.store.database, table: env.store.table,
          options: { keyPrefix: process.env.TEST_KEY_PREFIX },
        })
        await store.write({ key: 'from-env', value: new TextEncoder().encode('ok') })
        const [record] = await store.read('from-env')
        console.log(JSON.stringify({ name: store.name, value: new TextDecoder().decode(record.value) }))
        await store.close()
      `
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: {
          ...process.env,
          MICRO_STORE: 'redis',
          MICRO_STORE_ADDRESS: REDIS_URL,
          MICRO_STORE_DATABASE: 'envdb',
          MICRO_STORE_TABLE: 'envtable',
          TEST_KEY_PREFIX: keyPrefix,
        },
        timeout: 20_000,
      })
      expect(JSON.parse(stdout)).toEqual({ name: 'redis', value: 'ok' })
      expect(await (await raw()).exists(`${keyPrefix}envdb/envtable/from-env`)).toBe(1)
    })
  })
})
