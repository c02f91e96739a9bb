/**
 * The store suite: go-micro's store tests (store/file_test.go, memory_test.go, nats-js-kv) run
 * for the store's defaults, table-only, database-only and database+table scopes, plus the
 * cases the port adds (filters before offset/limit, literal `%`/`_`, exact keys, copies).
 */
import type { ScopeOptions, Store, StoreRecord } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import { defineSuite, harness, has } from './suite.js'
import type { CommonOptions, SuiteSpec } from './types.js'
import {
  allBytes,
  eventually,
  expectBytes,
  expectMicroError,
  isMicroErrorShape,
  randomBytes,
  size,
  sleep,
  sorted,
  text,
  uniqueName,
  utf8,
} from './util.js'

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
   * With `seconds` the TTL cases use 1 s TTLs (default `milliseconds`: 300 ms).
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
  defineSuite('store', spec, STORE_CAPABILITIES, () => storeSuite(spec))
}

interface Scope {
  label: string
  options: ScopeOptions
}

function storeSuite(spec: StoreConformanceSpec): void {
  const o = spec.options ?? {}
  const seconds = o.ttlGranularity === 'seconds'
  const ttl = seconds ? 1_000 : 300
  const tolerance = o.expiryTolerance ?? (seconds ? 2_000 : 1_000)
  const [db1, db2] = o.databases ?? ['conformance', 'conformance_b']
  const [t1, t2] = o.tables ?? ['records', 'records_b']
  const large = o.largeValueSize ?? 1024 * 1024
  const concurrency = o.concurrency ?? 100
  const visibility = o.visibilityTimeout ?? 2_000
  const h = harness('store', spec, (s) => s.close(), o.closeTimeout)

  const scopes: Scope[] = [
    { label: 'store defaults', options: {} },
    { label: 'table only', options: { table: t1 } },
    { label: 'database only', options: { database: db1 } },
    { label: 'database and table', options: { database: db1, table: t1 } },
  ]

  /** One `describe` per scope (go-micro runs its store tests for each combination). */
  function eachScope(body: (scope: ScopeOptions) => void): void {
    for (const { label, options } of scopes) describe(`scope: ${label}`, () => body(options))
  }

  /** Write `keys` (value = the key's bytes) in the order given. */
  async function writeAll(store: Store, keys: readonly string[], scope: ScopeOptions = {}): Promise<void> {
    for (const key of keys) await store.write({ key, value: utf8(key) }, scope)
  }

  async function keysOf(records: Promise<StoreRecord[]>): Promise<string[]> {
    return (await records).map((r) => r.key)
  }

  async function expectGone(store: Store, key: string, scope: ScopeOptions = {}): Promise<void> {
    await expectMicroError(store.read(key, scope), 404)
  }

  describe('records', () => {
    it('write then read returns the record with its key and value', async () => {
      const store = await h.fresh()
      const key = uniqueName('rw')
      await store.write({ key, value: utf8('hello') })
      const records = await store.read(key)
      expect(records).toHaveLength(1)
      expect(records[0].key).toBe(key)
      expect(text(records[0].value)).toBe('hello')
      expect(records[0].value).toBeInstanceOf(Uint8Array)
    })

    it('reading a missing key rejects with a 404 MicroError', async () => {
      const store = await h.fresh()
      await expectMicroError(store.read(uniqueName('missing')), 404)
    })

    it('a second write replaces the record', async () => {
      const store = await h.fresh()
      const key = uniqueName('replace')
      await store.write({ key, value: utf8('one') })
      await store.write({ key, value: utf8('two') })
      const records = await store.read(key)
      expect(records.map((r) => text(r.value))).toEqual(['two'])
    })

    it('delete removes the record', async () => {
      const store = await h.fresh()
      const key = uniqueName('delete')
      await store.write({ key, value: utf8('x') })
      await store.delete(key)
      await expectGone(store, key)
      expect(await store.list({ prefix: key })).toEqual([])
    })

    it('deleting a missing key is not an error', async () => {
      const store = await h.fresh()
      await expect(store.delete(uniqueName('never-written'))).resolves.toBeUndefined()
    })

    it('a record written without expiry reads back without one', async () => {
      const store = await h.fresh()
      const key = uniqueName('no-expiry')
      await store.write({ key, value: utf8('x') })
      const [record] = await store.read(key)
      expect(record.expiry).toBeUndefined()
    })

    it('empty, binary (every byte value) and Buffer values round-trip byte for byte', async () => {
      const store = await h.fresh()
      const base = uniqueName('bytes')
      const values: Record<string, Uint8Array> = {
        [`${base}-empty`]: new Uint8Array(0),
        [`${base}-all`]: allBytes(),
        [`${base}-buffer`]: Buffer.from('a Node Buffer is a Uint8Array'),
        [`${base}-nul`]: new Uint8Array([0, 0, 0]),
        [`${base}-utf8-invalid`]: new Uint8Array([0xc3, 0x28, 0xff, 0xfe]),
      }
      for (const [key, value] of Object.entries(values)) await store.write({ key, value })
      for (const [key, value] of Object.entries(values)) {
        const [record] = await store.read(key)
        expectBytes(record.value, value, key)
      }
    })

    it(`a ${size(large)} value round-trips`, async () => {
      const store = await h.fresh()
      const key = uniqueName('large')
      const value = randomBytes(large)
      await store.write({ key, value })
      const [record] = await store.read(key)
      expectBytes(record.value, value, 'large value')
    })

    it('the store keeps its own copy: changing the written or the read buffer changes nothing stored', async () => {
      const store = await h.fresh()
      const key = uniqueName('copy')
      const value = utf8('original')
      await store.write({ key, value })
      value.fill(0x21)
      const [first] = await store.read(key)
      expect(text(first.value)).toBe('original')
      first.value.fill(0x21)
      const [second] = await store.read(key)
      expect(text(second.value)).toBe('original')
    })

    it('keys are exact strings: quotes, %, _, /, backslash, unicode and SQL fragments', async () => {
      const store = await h.fresh()
      const base = uniqueName('keys')
      const suffixes = [
        "it's",
        'say "hi"',
        '100%',
        '%',
        '_',
        'a_b',
        'a/b/c',
        '/leading',
        'back\\slash',
        'tab\tand\nnewline',
        'ünïcödé-日本語-🚀',
        "'; DROP TABLE records; --",
        '" OR 1=1 --',
        '$1 ? :name',
        'dots.and:colons',
        ' spaced ',
      ]
      const keys = suffixes.map((s) => `${base}-${s}`)
      for (const [i, key] of keys.entries()) await store.write({ key, value: utf8(String(i)) })
      for (const [i, key] of keys.entries()) {
        const records = await store.read(key)
        expect(records.map((r) => [r.key, text(r.value)])).toEqual([[key, String(i)]])
      }
      expect(await store.list({ prefix: `${base}-` })).toEqual(sorted(keys))
      for (const key of keys) await store.delete(key)
      expect(await store.list({ prefix: `${base}-` })).toEqual([])
    })

    it('keys that differ only in case are different keys', async () => {
      const store = await h.fresh()
      const base = uniqueName('case')
      await store.write({ key: `${base}-key`, value: utf8('lower') })
      await store.write({ key: `${base}-KEY`, value: utf8('upper') })
      expect(text((await store.read(`${base}-key`))[0].value)).toBe('lower')
      expect(text((await store.read(`${base}-KEY`))[0].value)).toBe('upper')
      expect(await store.list({ prefix: `${base}-` })).toHaveLength(2)
    })

    it('% and _ in prefix and suffix filters match themselves only (no wildcards)', async () => {
      const store = await h.fresh()
      const base = uniqueName('like')
      const keys = [`${base}-a_b`, `${base}-axb`, `${base}-100%`, `${base}-1000`, `${base}-%x`, `${base}-zx`]
      await writeAll(store, keys)
      expect(await keysOf(store.read(`${base}-a_`, { prefix: true }))).toEqual([`${base}-a_b`])
      expect(await store.list({ prefix: `${base}-a_` })).toEqual([`${base}-a_b`])
      expect(await keysOf(store.read(`${base}-100%`, { prefix: true }))).toEqual([`${base}-100%`])
      expect(await store.list({ prefix: `${base}-%` })).toEqual([`${base}-%x`])
      expect(await keysOf(store.read('%x', { suffix: true }))).not.toContain(`${base}-zx`)
      expect(await store.list({ prefix: base, suffix: '_b' })).toEqual([`${base}-a_b`])
    })

    it(`${concurrency} concurrent writers all land`, async () => {
      const store = await h.fresh()
      const base = uniqueName('concurrent')
      const keys = Array.from({ length: concurrency }, (_, i) => `${base}-${String(i).padStart(4, '0')}`)
      await Promise.all(keys.map((key) => store.write({ key, value: utf8(key) })))
      expect(await store.list({ prefix: `${base}-` })).toEqual(keys)
      const records = await store.read(`${base}-`, { prefix: true })
      expect(records.map((r) => text(r.value))).toEqual(keys)
    })

    it('concurrent writes to one key leave exactly one of the written values', async () => {
      const store = await h.fresh()
      const key = uniqueName('race')
      const values = Array.from({ length: 20 }, (_, i) => `value-${i}`)
      await Promise.all(values.map((v) => store.write({ key, value: utf8(v) })))
      const records = await store.read(key)
      expect(records).toHaveLength(1)
      expect(values).toContain(text(records[0].value))
    })

    it('a write with an empty key or a value that is not bytes rejects with a 400 MicroError', async () => {
      const store = await h.fresh()
      await expectMicroError(store.write({ key: '', value: utf8('x') }), 400)
      const notBytes = { key: uniqueName('bad-value'), value: 'a string' } as unknown as StoreRecord
      await expectMicroError(store.write(notBytes), 400)
    })

    it('close() twice is harmless, and calls after close reject with a MicroError', async () => {
      const store = await h.fresh()
      await h.close(store)
      await store.close()
      await expectMicroError(store.read(uniqueName('after-close')))
      await expectMicroError(store.write({ key: uniqueName('after-close'), value: utf8('x') }))
    })
  })

  eachScope((scope) => {
    it('write, read and delete (go-micro)', async () => {
      const store = await h.fresh()
      const key = uniqueName('basic')
      await store.write({ key, value: utf8('bar') }, scope)
      expect((await store.read(key, scope)).map((r) => [r.key, text(r.value)])).toEqual([[key, 'bar']])
      await store.delete(key, scope)
      await expectGone(store, key, scope)
    })

    it('a prefix read returns every match in key order', async () => {
      const store = await h.fresh()
      const base = uniqueName('prefix')
      const keys = [`${base}-c`, `${base}-a`, `${base}-b2`, `${base}-b1`]
      await writeAll(store, keys, scope)
      await writeAll(store, [`${base}x`, `${uniqueName('other')}-a`], scope)
      const records = await store.read(`${base}-`, { ...scope, prefix: true })
      expect(records.map((r) => r.key)).toEqual(sorted(keys))
      for (const r of records) expect(text(r.value)).toBe(r.key)
    })

    it('a suffix read returns every match and shrinks as keys are deleted (go-micro)', async () => {
      const store = await h.fresh()
      const suffix = `${uniqueName('suffix')}-end`
      const a = `a-${suffix}`
      const b = `b-${suffix}`
      await writeAll(store, [b, a, `${suffix}-not`], scope)
      expect(await keysOf(store.read(suffix, { ...scope, suffix: true }))).toEqual([a, b])
      await store.delete(a, scope)
      expect(await keysOf(store.read(suffix, { ...scope, suffix: true }))).toEqual([b])
      await store.delete(b, scope)
      expect(await store.read(suffix, { ...scope, suffix: true })).toEqual([])
    })

    it('with prefix and suffix a key must match both (go-micro)', async () => {
      const store = await h.fresh()
      const base = uniqueName('both')
      await writeAll(store, [base, `${base}-mid-${base}`, `${base}-tail`, `head-${base}`], scope)
      expect(await keysOf(store.read(base, { ...scope, prefix: true, suffix: true }))).toEqual([
        base,
        `${base}-mid-${base}`,
      ])
      await writeAll(store, [`${base}-1-x`, `${base}-2-y`, `${base}-3-x`], scope)
      expect(await store.list({ ...scope, prefix: `${base}-`, suffix: '-x' })).toEqual([
        `${base}-1-x`,
        `${base}-3-x`,
      ])
    })

    it('limit and offset apply after the filters, in key order (go-micro ReadLimit/Offset)', async () => {
      const store = await h.fresh()
      const base = uniqueName('page')
      const a = Array.from({ length: 10 }, (_, i) => `${base}-a${i}`)
      // Non-matching keys sorted before, between and after the matches catch limit/offset applied first.
      await writeAll(store, [`${base}-0`, ...a.slice(5), `${base}-b0`, ...a.slice(0, 5), `${base}-a`], scope)
      const read = (limit?: number, offset?: number) =>
        keysOf(store.read(`${base}-a`, { ...scope, prefix: true, limit, offset }))
      expect(await read(5)).toEqual([`${base}-a`, ...a.slice(0, 4)])
      expect(await read(30, 5)).toEqual(a.slice(4))
      expect(await read(2, 3)).toEqual(a.slice(2, 4))
      expect(await read(undefined, 11)).toEqual([])
      expect(await read(undefined, 12)).toEqual([])
      expect(await read(100)).toEqual([`${base}-a`, ...a])

      const end = `-${base}-end`
      const suffixed = Array.from({ length: 6 }, (_, i) => `${base}-s${i}${end}`)
      await writeAll(store, [...[...suffixed].reverse(), `${base}-s9-nope`, `${base}-s0${end}x`], scope)
      expect(await keysOf(store.read(end, { ...scope, suffix: true, limit: 2, offset: 1 }))).toEqual(
        suffixed.slice(1, 3),
      )
      expect(await store.list({ ...scope, suffix: end, limit: 2, offset: 3 })).toEqual(suffixed.slice(3, 5))
    })

    it('list applies prefix, suffix, offset and limit, in key order', async () => {
      const store = await h.fresh()
      const base = uniqueName('list')
      const keys = [`${base}-b`, `${base}-a`, `${base}-c`, `${base}-a-x`]
      await writeAll(store, keys, scope)
      expect(await store.list({ ...scope, prefix: `${base}-` })).toEqual(sorted(keys))
      expect(await store.list({ ...scope, prefix: `${base}-`, suffix: '-x' })).toEqual([`${base}-a-x`])
      expect(await store.list({ ...scope, prefix: `${base}-`, limit: 2 })).toEqual(sorted(keys).slice(0, 2))
      expect(await store.list({ ...scope, prefix: `${base}-`, offset: 1, limit: 2 })).toEqual(
        sorted(keys).slice(1, 3),
      )
      expect(await store.list({ ...scope, prefix: `${base}-`, offset: 4 })).toEqual([])
      expect(await store.list({ ...scope, prefix: `${base}-zzz` })).toEqual([])
      // Without a prefix, list covers the whole table: our keys are there (other runs' may be too).
      const all = await store.list(scope)
      for (const k of keys) expect(all).toContain(k)
    })

    it('paging through list() with limit/offset visits every key exactly once', async () => {
      const store = await h.fresh()
      const base = uniqueName('walk')
      const keys = Array.from({ length: 25 }, (_, i) => `${base}-${String(i).padStart(2, '0')}`)
      await writeAll(store, [...keys].reverse(), scope)
      const seen: string[] = []
      // Bounded: a store that ignores offset must fail here, not loop forever.
      for (let offset = 0; offset <= keys.length + 7; offset += 7) {
        const page = await store.list({ ...scope, prefix: `${base}-`, limit: 7, offset })
        seen.push(...page)
        if (page.length < 7) break
      }
      expect(seen).toEqual(keys)
    })

    it('a filtered read that matches nothing returns an empty list, not an error', async () => {
      const store = await h.fresh()
      const base = uniqueName('nomatch')
      expect(await store.read(base, { ...scope, prefix: true })).toEqual([])
      expect(await store.read(base, { ...scope, suffix: true })).toEqual([])
      expect(await store.list({ ...scope, prefix: base })).toEqual([])
    })
  })

  describe('isolation', () => {
    it('databases and tables are isolated from each other and from the defaults', async () => {
      const store = await h.fresh()
      const key = uniqueName('isolated')
      const places: ScopeOptions[] = [
        {},
        { database: db1 },
        { database: db2 },
        { table: t1 },
        { table: t2 },
        { database: db1, table: t1 },
        { database: db1, table: t2 },
        { database: db2, table: t1 },
      ]
      for (const [i, place] of places.entries()) await store.write({ key, value: utf8(String(i)) }, place)
      for (const [i, place] of places.entries()) {
        const records = await store.read(key, place)
        expect(
          records.map((r) => text(r.value)),
          JSON.stringify(place),
        ).toEqual([String(i)])
        expect(await store.list({ ...place, prefix: key }), JSON.stringify(place)).toEqual([key])
      }
      await store.delete(key, { database: db1, table: t1 })
      await expectGone(store, key, { database: db1, table: t1 })
      for (const [i, place] of places.entries()) {
        if (place.database === db1 && place.table === t1) continue
        expect(
          (await store.read(key, place)).map((r) => text(r.value)),
          JSON.stringify(place),
        ).toEqual([String(i)])
      }
      for (const place of places) await store.delete(key, place)
    })
  })

  describe('metadata', () => {
    if (has(spec, 'metadata')) {
      it('metadata round-trips (strings, unicode, numbers, booleans, nested objects, arrays)', async () => {
        const store = await h.fresh()
        const key = uniqueName('meta')
        const metadata = {
          name: 'value',
          unicode: 'ünïcödé 日本 🚀',
          quote: `it's "quoted"`,
          int: 42,
          float: 1.5,
          negative: -7,
          yes: true,
          no: false,
          nested: { a: { b: ['x', 1, false] } },
          list: [1, 'two', { three: 3 }],
        }
        await store.write({ key, value: utf8('x'), metadata })
        const [record] = await store.read(key)
        expect(record.metadata).toEqual(metadata)
        const [viaPrefix] = await store.read(key, { prefix: true })
        expect(viaPrefix.metadata).toEqual(metadata)
      })

      it('a rewrite replaces the metadata', async () => {
        const store = await h.fresh()
        const key = uniqueName('meta-replace')
        await store.write({ key, value: utf8('x'), metadata: { a: '1', b: '2' } })
        await store.write({ key, value: utf8('y'), metadata: { c: '3' } })
        expect((await store.read(key))[0].metadata).toEqual({ c: '3' })
      })
    } else {
      it('metadata is not declared: reads carry no metadata', async () => {
        const store = await h.fresh()
        const key = uniqueName('meta-absent')
        await store.write({ key, value: utf8('x'), metadata: { name: 'value' } })
        const [record] = await store.read(key)
        expect(record.metadata === undefined || Object.keys(record.metadata).length === 0).toBe(true)
      })
    }
  })

  describe('ttl', () => {
    if (!has(spec, 'ttl')) {
      it('ttl is not declared: a write with a TTL rejects with a MicroError or the record outlives it', async () => {
        const store = await h.fresh()
        const key = uniqueName('ttl-absent')
        let rejected: unknown
        await store.write({ key, value: utf8('x') }, { ttl }).catch((e) => {
          rejected = e
        })
        if (rejected !== undefined) {
          expect(isMicroErrorShape(rejected), String(rejected)).toBe(true)
          return
        }
        await sleep(ttl + tolerance)
        const [record] = await store.read(key)
        expect(text(record.value)).toBe('x')
        expect(record.expiry).toBeUndefined()
      })
      return
    }

    eachScope((scope) => {
      it('a record with an expiry is readable, then gone (go-micro)', async () => {
        const store = await h.fresh()
        const key = uniqueName('expiry')
        await store.write({ key, value: utf8('x'), expiry: ttl }, scope)
        const [record] = await store.read(key, scope)
        expect(text(record.value)).toBe('x')
        expect(record.expiry).toBeGreaterThan(0)
        expect(record.expiry).toBeLessThanOrEqual(ttl)
        await sleep(ttl)
        await eventually(() => expectGone(store, key, scope), tolerance)
        expect(await store.list({ ...scope, prefix: key })).toEqual([])
      })

      it('write options ttl and expiry both expire a record; ttl wins over expiry and the record expiry', async () => {
        const store = await h.fresh()
        const base = uniqueName('ttl-opts')
        await store.write({ key: `${base}-ttl`, value: utf8('x') }, { ...scope, ttl })
        await store.write(
          { key: `${base}-at`, value: utf8('x') },
          { ...scope, expiry: new Date(Date.now() + ttl) },
        )
        const past = new Date(Date.now() - 60_000)
        await store.write(
          { key: `${base}-ttl-wins`, value: utf8('x') },
          { ...scope, ttl: 60_000, expiry: past },
        )
        await store.write(
          { key: `${base}-option-wins`, value: utf8('x'), expiry: ttl },
          { ...scope, ttl: 60_000 },
        )
        expect(await store.list({ ...scope, prefix: `${base}-` })).toHaveLength(4)
        await sleep(ttl)
        await eventually(async () => {
          expect(await store.list({ ...scope, prefix: `${base}-` })).toEqual([
            `${base}-option-wins`,
            `${base}-ttl-wins`,
          ])
        }, tolerance)
        await expectGone(store, `${base}-ttl`, scope)
        await expectGone(store, `${base}-at`, scope)
      })

      it('a prefix read drops a record once it expires (go-micro ReadPrefix)', async () => {
        const store = await h.fresh()
        const foo = uniqueName('foo')
        await store.write({ key: foo, value: utf8('foo') }, scope)
        await store.write({ key: `${foo}bar`, value: utf8('foobar'), expiry: ttl }, scope)
        expect(await keysOf(store.read(foo, { ...scope, prefix: true }))).toEqual([foo, `${foo}bar`])
        await sleep(ttl)
        await eventually(async () => {
          expect(await keysOf(store.read(foo, { ...scope, prefix: true }))).toEqual([foo])
        }, tolerance)
      })

      it('records written already expired are never returned (go-micro negative expiry)', async () => {
        const store = await h.fresh()
        const suffix = `${uniqueName('neg')}-sfx`
        await store.write({ key: `live-${suffix}`, value: utf8('x') }, scope)
        await store.write({ key: `dead-${suffix}`, value: utf8('x'), expiry: -1_000 }, scope)
        await store.write(
          { key: `past-${suffix}`, value: utf8('x') },
          { ...scope, expiry: new Date(Date.now() - 1_000) },
        )
        expect(await keysOf(store.read(suffix, { ...scope, suffix: true }))).toEqual([`live-${suffix}`])
        expect(await store.list({ ...scope, suffix })).toEqual([`live-${suffix}`])
        await expectGone(store, `dead-${suffix}`, scope)
        await expectGone(store, `past-${suffix}`, scope)
      })

      it('a rewrite replaces the expiry: without one the record stays', async () => {
        const store = await h.fresh()
        const key = uniqueName('rewrite-ttl')
        await store.write({ key, value: utf8('x') }, { ...scope, ttl })
        await store.write({ key, value: utf8('y') }, scope)
        await sleep(ttl + tolerance)
        const [record] = await store.read(key, scope)
        expect(text(record.value)).toBe('y')
        expect(record.expiry).toBeUndefined()
      })

      it('once every record has expired, list() is empty (go-micro)', async () => {
        const store = await h.fresh()
        const base = uniqueName('all-expire')
        for (let i = 0; i < 5; i++)
          await store.write({ key: `${base}-${i}`, value: utf8('x') }, { ...scope, ttl })
        expect(await store.list({ ...scope, prefix: `${base}-` })).toHaveLength(5)
        await sleep(ttl)
        await eventually(
          async () => expect(await store.list({ ...scope, prefix: `${base}-` })).toEqual([]),
          tolerance,
        )
        expect(await store.read(`${base}-`, { ...scope, prefix: true })).toEqual([])
      })
    })

    it('a long TTL reads back as the remaining time to live', async () => {
      const store = await h.fresh()
      const key = uniqueName('remaining')
      await store.write({ key, value: utf8('x') }, { ttl: 60_000 })
      const [record] = await store.read(key)
      expect(record.expiry).toBeGreaterThan(60_000 - 5_000)
      expect(record.expiry).toBeLessThanOrEqual(60_000)
    })
  })

  describe('shared', () => {
    if (has(spec, 'shared')) {
      it('a write on one instance is read on another, and so is a delete', async () => {
        const a = await h.fresh()
        const b = await h.fresh()
        const key = uniqueName('shared')
        await a.write({ key, value: utf8('from a') })
        await eventually(async () => expect(text((await b.read(key))[0].value)).toBe('from a'), visibility)
        await b.delete(key)
        await eventually(() => expectGone(a, key), visibility)
      })
    } else {
      it('shared is not declared: instances do not see each other’s records', async () => {
        const a = await h.fresh()
        const b = await h.fresh()
        const key = uniqueName('not-shared')
        await a.write({ key, value: utf8('from a') })
        await sleep(Math.min(visibility, 500))
        await expectGone(b, key)
        expect(await b.list({ prefix: key })).toEqual([])
      })
    }
  })
}
