import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { MicroError } from '../src/errors.js'
import { createMemoryStore, type MemoryStore, type Store } from '../src/store/index.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const bytes = (s: string) => enc.encode(s)
const text = (b: Uint8Array) => dec.decode(b)

async function expectNotFound(p: Promise<unknown>) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(MicroError)
  expect((err as MicroError).toJSON()).toEqual({
    id: 'go.micro.store',
    code: 404,
    detail: 'not found',
    status: 'Not Found',
  })
}

async function expectBadRequest(p: Promise<unknown>, detail: RegExp) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(MicroError)
  expect((err as MicroError).code).toBe(400)
  expect((err as MicroError).id).toBe('go.micro.store')
  expect((err as MicroError).detail).toMatch(detail)
}

/**
 * go-micro's store/file_test.go `fileTest`, step by step, with the clock under the test's control.
 * `scope` is passed to every call, so the same run also proves per-call database/table options.
 */
async function goMicroStoreCases(s: Store, scope: { database?: string; table?: string }) {
  const tick = (ms: number) => vi.advanceTimersByTime(ms)

  // Read and write an expiring record
  await s.write({ key: 'Hello', value: bytes('World'), expiry: 150 }, scope)
  const r = await s.read('Hello', scope)
  expect(r).toHaveLength(1)
  expect(r[0].key).toBe('Hello')
  expect(text(r[0].value)).toBe('World')
  tick(200)
  await expectNotFound(s.read('Hello', scope))

  // Prefix read, with one record expiring
  await s.write({ key: 'foo', value: bytes('foofoo') }, scope)
  await s.write({ key: 'foobar', value: bytes('foobarfoobar'), expiry: 100 }, scope)
  expect(await s.read('foo', { ...scope, prefix: true })).toHaveLength(2)
  tick(200)
  expect(await s.read('foo', { ...scope, prefix: true })).toHaveLength(1)
  await s.delete('foo', scope)
  await expectNotFound(s.read('foo', scope))

  // Suffix read as records expire and get deleted
  await s.write({ key: 'foo', value: bytes('foofoo') }, scope)
  await s.write({ key: 'barfoo', value: bytes('barfoobarfoo'), expiry: 100 }, scope)
  await s.write({ key: 'bazbarfoo', value: bytes('bazbarfoobazbarfoo'), expiry: 200 }, scope)
  // A record written already expired is never returned (go-micro's store tests check the same).
  await s.write({ key: 'deadfoo', value: bytes('x'), expiry: -1 }, scope)
  expect(await s.read('foo', { ...scope, suffix: true })).toHaveLength(3)
  tick(100)
  expect(await s.read('foo', { ...scope, suffix: true })).toHaveLength(2)
  tick(100)
  expect(await s.read('foo', { ...scope, suffix: true })).toHaveLength(1)
  await s.delete('foo', scope)
  expect(await s.read('foo', { ...scope, suffix: true })).toHaveLength(0)

  // TTL and Expiry write options; TTL wins; prefix+suffix must both match
  await s.write({ key: 'foofoobarbar', value: bytes('something') }, { ...scope, ttl: 100 })
  await s.write(
    { key: 'foofoo', value: bytes('something') },
    { ...scope, expiry: new Date(Date.now() + 100) },
  )
  await s.write(
    { key: 'barbar', value: bytes('something') },
    { ...scope, expiry: new Date(Date.now() + 3_600_000), ttl: 100 },
  )
  const both = await s.read('foo', { ...scope, prefix: true, suffix: true })
  expect(both.map((x) => x.key)).toEqual(['foofoo'])
  tick(100)
  expect(await s.list(scope)).toEqual([])

  // Limit and offset
  for (let i = 0; i < 10; i++) await s.write({ key: `a${i}`, value: new Uint8Array() }, scope)
  const first = await s.read('a', { ...scope, limit: 5, prefix: true })
  expect(first.map((x) => x.key)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4'])
  const rest = await s.read('a', { ...scope, limit: 30, offset: 5, prefix: true })
  expect(rest.map((x) => x.key)).toEqual(['a5', 'a6', 'a7', 'a8', 'a9'])
}

describe('MemoryStore: go-micro store cases', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  const cases: [string, { database?: string; table?: string }][] = [
    ['defaults', {}],
    ['table only', { table: 'testTable' }],
    ['database only', { database: 'testdb' }],
    ['database and table', { database: 'testdb', table: 'testTable' }],
  ]
  for (const [name, scope] of cases) {
    it(`${name}, configured on the store`, async () => {
      const s = createMemoryStore(scope)
      await goMicroStoreCases(s, {})
      // Everything written went to the configured scope, nothing to the defaults (unless they are the defaults).
      if (scope.database || scope.table)
        expect(await s.list({ database: 'micro', table: 'micro' })).toEqual([])
      expect(await s.list(scope)).toHaveLength(10)
      await s.close()
    })
    it(`${name}, passed on every call`, async () => {
      const s = createMemoryStore()
      await goMicroStoreCases(s, scope)
      expect(await s.list(scope)).toHaveLength(10)
      await s.close()
    })
  }

  it('expires on the real clock too', async () => {
    vi.useRealTimers()
    const s = createMemoryStore()
    await s.write({ key: 'k', value: bytes('v'), expiry: 50 })
    expect(await s.read('k')).toHaveLength(1)
    await new Promise((r) => setTimeout(r, 80))
    await expectNotFound(s.read('k'))
    await s.close()
  })
})

describe('MemoryStore', () => {
  let s: MemoryStore
  beforeEach(() => {
    s = createMemoryStore()
  })
  afterEach(async () => {
    vi.useRealTimers()
    await s.close()
  })

  it('is named memory and defaults to micro/micro', async () => {
    expect(s.name).toBe('memory')
    await s.write({ key: 'k', value: bytes('v') })
    expect(await s.list({ database: 'micro', table: 'micro' })).toEqual(['k'])
    // An empty database/table means the default, as in go-micro.
    expect(await s.list({ database: '', table: '' })).toEqual(['k'])
  })

  it('isolates databases and tables', async () => {
    const scopes = [
      {},
      { table: 't1' },
      { table: 't2' },
      { database: 'd1' },
      { database: 'd1', table: 't1' },
      { database: 'd2', table: 't1' },
    ]
    for (const [i, scope] of scopes.entries()) await s.write({ key: 'same', value: bytes(`v${i}`) }, scope)
    for (const [i, scope] of scopes.entries()) {
      const [r] = await s.read('same', scope)
      expect(text(r.value)).toBe(`v${i}`)
      expect(await s.list(scope)).toEqual(['same'])
    }
    await s.delete('same', { database: 'd1', table: 't1' })
    await expectNotFound(s.read('same', { database: 'd1', table: 't1' }))
    expect(text((await s.read('same', { database: 'd2', table: 't1' }))[0].value)).toBe('v5')
    expect(text((await s.read('same', { database: 'd1' }))[0].value)).toBe('v3')
    // A table never written to reads as empty, and an exact read there is not found.
    expect(await s.list({ database: 'nope', table: 'nope' })).toEqual([])
    expect(await s.read('same', { database: 'nope', prefix: true })).toEqual([])
    await expectNotFound(s.read('same', { database: 'nope' }))
  })

  it('exact read returns exactly one record, never a prefix match', async () => {
    await s.write({ key: 'ab', value: bytes('1') })
    await s.write({ key: 'abc', value: bytes('2') })
    const r = await s.read('ab')
    expect(r.map((x) => x.key)).toEqual(['ab'])
    await expectNotFound(s.read('a'))
  })

  it('overwrites a key in place', async () => {
    await s.write({ key: 'k', value: bytes('1'), metadata: { a: 1 } })
    await s.write({ key: 'k', value: bytes('2') })
    const [r] = await s.read('k')
    expect(text(r.value)).toBe('2')
    expect(r.metadata).toBeUndefined()
    expect(await s.list()).toEqual(['k'])
  })

  it('applies prefix/suffix before offset/limit (go-micro memory store bug not copied)', async () => {
    for (const k of ['b0', 'b1', 'b2', 'b3']) await s.write({ key: k, value: bytes(k) })
    for (let i = 9; i >= 0; i--) await s.write({ key: `a${i}`, value: bytes(`a${i}`) })
    expect(await s.list({ prefix: 'a', limit: 3 })).toEqual(['a0', 'a1', 'a2'])
    expect(await s.list({ prefix: 'b', offset: 1, limit: 2 })).toEqual(['b1', 'b2'])
    expect(await s.list({ suffix: '3', limit: 5 })).toEqual(['a3', 'b3'])
    expect(await s.list({ suffix: '3', offset: 1 })).toEqual(['b3'])
    expect(await s.list({ prefix: 'a', suffix: '9' })).toEqual(['a9'])
    // offset >= length: empty; limit > length: everything
    expect(await s.list({ prefix: 'b', offset: 4 })).toEqual([])
    expect(await s.list({ prefix: 'b', offset: 40 })).toEqual([])
    expect(await s.list({ prefix: 'b', limit: 100 })).toEqual(['b0', 'b1', 'b2', 'b3'])
    // read with the same filters returns the same keys, with values
    const recs = await s.read('a', { prefix: true, offset: 8, limit: 5 })
    expect(recs.map((r) => [r.key, text(r.value)])).toEqual([
      ['a8', 'a8'],
      ['a9', 'a9'],
    ])
    // all keys in key order
    expect(await s.list()).toEqual([...Array.from({ length: 10 }, (_, i) => `a${i}`), 'b0', 'b1', 'b2', 'b3'])
  })

  it('nats-js-kv list matrix: table + suffix + limit', async () => {
    const cities = ['NewYorkCity', 'MexicoCity', 'Amsterdam', 'QuebecCity', 'Paris']
    for (const c of cities) await s.write({ key: c, value: bytes(c) }, { table: 'cities' })
    await s.write({ key: 'GhostCity', value: bytes('x') }, { table: 'other' })
    expect(await s.list({ table: 'cities', suffix: 'City', limit: 2 })).toEqual(['MexicoCity', 'NewYorkCity'])
    expect(await s.list({ table: 'cities', suffix: 'City' })).toEqual([
      'MexicoCity',
      'NewYorkCity',
      'QuebecCity',
    ])
    expect(await s.list({ table: 'cities', prefix: 'P' })).toEqual(['Paris'])
    expect(await s.list({ table: 'cities', offset: 3, limit: 10 })).toEqual(['Paris', 'QuebecCity'])
  })

  it('TTL: record.expiry, options.expiry beats it, options.ttl beats both; read reports the remaining time', async () => {
    vi.useFakeTimers()
    await s.write({ key: 'rec', value: bytes('v'), expiry: 1000 })
    await s.write({ key: 'date', value: bytes('v'), expiry: 10 }, { expiry: new Date(Date.now() + 2000) })
    await s.write(
      { key: 'ttl', value: bytes('v'), expiry: 10 },
      { ttl: 3000, expiry: new Date(Date.now() + 10) },
    )
    await s.write({ key: 'forever', value: bytes('v') })
    vi.advanceTimersByTime(400)
    const got = Object.fromEntries((await s.read('', { prefix: true })).map((r) => [r.key, r.expiry]))
    expect(got).toEqual({ rec: 600, date: 1600, ttl: 2600, forever: undefined })
    expect('expiry' in (await s.read('forever'))[0]).toBe(false)
    vi.advanceTimersByTime(600)
    expect(await s.list()).toEqual(['date', 'forever', 'ttl'])
    vi.advanceTimersByTime(1000)
    expect(await s.list()).toEqual(['forever', 'ttl'])
    vi.advanceTimersByTime(1000)
    expect(await s.list()).toEqual(['forever'])
  })

  it('expiry <= 0 (or a past Date, or ttl <= 0) means already expired and replaces an existing record', async () => {
    await s.write({ key: 'zero', value: bytes('v'), expiry: 0 })
    await s.write({ key: 'neg', value: bytes('v'), expiry: -5 })
    await s.write({ key: 'past', value: bytes('v') }, { expiry: new Date(Date.now() - 1) })
    await s.write({ key: 'ttl0', value: bytes('v'), expiry: 10_000 }, { ttl: 0 })
    expect(await s.list()).toEqual([])
    for (const k of ['zero', 'neg', 'past', 'ttl0']) await expectNotFound(s.read(k))

    await s.write({ key: 'k', value: bytes('old') })
    await s.write({ key: 'k', value: bytes('new'), expiry: 0 })
    await expectNotFound(s.read('k'))
    expect(await s.read('k', { prefix: true })).toEqual([])
  })

  it('round-trips metadata as a deep copy', async () => {
    const metadata = { a: 1, nested: { list: [1, 'two', { three: true }] }, s: 'x', n: null }
    await s.write({ key: 'k', value: bytes('v'), metadata })
    metadata.nested.list.push(4)
    metadata.a = 99
    const [r] = await s.read('k')
    expect(r.metadata).toEqual({ a: 1, nested: { list: [1, 'two', { three: true }] }, s: 'x', n: null })
    ;(r.metadata as { a: number }).a = 5
    ;((r.metadata as { nested: { list: unknown[] } }).nested.list as unknown[]).length = 0
    const [again] = await s.read('k')
    expect(again.metadata).toEqual({ a: 1, nested: { list: [1, 'two', { three: true }] }, s: 'x', n: null })
  })

  it('copies values in and out; a Buffer in comes back as a plain Uint8Array', async () => {
    const value = Buffer.from([0, 1, 2, 255])
    await s.write({ key: 'bin', value })
    value[0] = 42
    const [r] = await s.read('bin')
    expect(Object.getPrototypeOf(r.value)).toBe(Uint8Array.prototype)
    expect([...r.value]).toEqual([0, 1, 2, 255])
    r.value[1] = 42
    expect([...(await s.read('bin'))[0].value]).toEqual([0, 1, 2, 255])
    // An empty value is a value.
    await s.write({ key: 'empty', value: new Uint8Array() })
    expect((await s.read('empty'))[0].value).toEqual(new Uint8Array())
  })

  it('keys of any characters', async () => {
    const keys = [
      "it's",
      'say "hi"',
      '100%',
      'a_b',
      'a/b/c',
      '../etc/passwd',
      "'; DROP TABLE micro; --",
      'ключ',
      '鍵',
      '🔑emoji',
      'tab\tnewline\n',
      'nul\u0000byte',
      ' ',
    ]
    for (const k of keys) await s.write({ key: k, value: bytes(k) })
    for (const k of keys) expect(text((await s.read(k))[0].value)).toBe(k)
    expect(await s.list()).toEqual([...keys].sort())
    // `%` and `_` are literal characters, not wildcards.
    expect(await s.list({ prefix: 'a_' })).toEqual(['a_b'])
    expect(await s.list({ prefix: '100%' })).toEqual(['100%'])
    expect(await s.list({ prefix: '_' })).toEqual([])
    expect(await s.list({ suffix: '%' })).toEqual(['100%'])
    expect(await s.list({ prefix: 'a/' })).toEqual(['a/b/c'])
    for (const k of keys) await s.delete(k)
    expect(await s.list()).toEqual([])
  })

  it('deleting a missing key (or table) is fine', async () => {
    await s.delete('nothing')
    await s.delete('nothing', { database: 'x', table: 'y' })
    await s.write({ key: 'k', value: bytes('v') })
    await s.delete('k')
    await s.delete('k')
    await expectNotFound(s.read('k'))
  })

  it('rejects bad input with a 400 MicroError', async () => {
    await expectBadRequest(s.write({ key: '', value: bytes('v') }), /key/)
    await expectBadRequest(s.write({ key: 1 as unknown as string, value: bytes('v') }), /key/)
    await expectBadRequest(
      s.write({ key: 'k', value: 'text' as unknown as Uint8Array }),
      /value must be a Uint8Array/,
    )
    await expectBadRequest(
      s.write({ key: 'k', value: bytes('v'), metadata: [] as unknown as Record<string, unknown> }),
      /metadata/,
    )
    await expectBadRequest(
      s.write({ key: 'k', value: bytes('v'), metadata: { f: () => 1 } }),
      /metadata cannot be copied/,
    )
    await expectBadRequest(s.write({ key: 'k', value: bytes('v'), expiry: Number.NaN }), /expiry/)
    await expectBadRequest(s.write({ key: 'k', value: bytes('v') }, { expiry: new Date('nope') }), /expiry/)
    await expectBadRequest(s.write(null as unknown as { key: string; value: Uint8Array }), /record/)
    await expectBadRequest(s.read('k', { limit: -1, prefix: true }), /limit/)
    await expectBadRequest(s.list({ offset: 1.5 }), /offset/)
    await expectBadRequest(s.list({ table: 5 as unknown as string }), /table/)
    await expectBadRequest(s.read(undefined as unknown as string), /key/)
    // Nothing was written by the failed calls.
    expect(await s.list()).toEqual([])
  })

  it('sweeps expired records in the background', async () => {
    vi.useFakeTimers()
    const swept = createMemoryStore({ sweepInterval: 1000 })
    for (let i = 0; i < 100; i++)
      await swept.write({ key: `k${i}`, value: bytes('v'), expiry: i < 60 ? 500 : 5000 })
    const size = () =>
      [
        ...(
          swept as unknown as { tables: Map<string, Map<string, { entries: Map<string, unknown> }>> }
        ).tables.values(),
      ]
        .flatMap((t) => [...t.values()])
        .reduce((n, t) => n + t.entries.size, 0)
    expect(size()).toBe(100)
    vi.advanceTimersByTime(1000)
    // Nobody read anything: the timer alone dropped them.
    expect(size()).toBe(40)
    vi.advanceTimersByTime(5000)
    expect(size()).toBe(0)
    await swept.close()
  })

  it('throws 503 after close', async () => {
    await s.close()
    const err = await s.read('k').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MicroError)
    expect((err as MicroError).code).toBe(503)
  })

  // Reads between few changes exercise the index's splice path, reads between many its merge path.
  for (const [label, readOdds, keySpace] of [
    ['frequent reads', 5, 5],
    ['rare reads', 800, 20],
  ] as const) {
    it(`keeps its key index right under random writes, deletes and reads (model check, ${label})`, async () => {
      const model = new Map<string, string>()
      let seed = 42
      // mulberry32: the low bits of a plain LCG repeat too soon to mix keys and operations well.
      const rand = (n: number) => {
        seed = (seed + 0x6d2b79f5) | 0
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
        return ((t ^ (t >>> 14)) >>> 0) % n
      }
      const alphabet = ['a', 'b', 'c', 'ab', 'ba', 'x']
      let reads = 0
      for (let step = 0; step < 8000; step++) {
        const key = alphabet[rand(alphabet.length)] + alphabet[rand(alphabet.length)] + rand(keySpace)
        if (rand(readOdds) === 0) {
          reads++
          const prefix = alphabet[rand(alphabet.length)]
          const offset = rand(4)
          const limit = rand(6)
          const want = [...model.keys()].filter((k) => k.startsWith(prefix)).sort()
          const sliced = want.slice(offset, limit ? offset + limit : undefined)
          expect(await s.list({ prefix, offset, limit })).toEqual(sliced)
          const recs = await s.read(prefix, { prefix: true, offset, limit })
          expect(recs.map((r) => [r.key, text(r.value)])).toEqual(sliced.map((k) => [k, model.get(k)]))
        } else if (rand(10) < 6) {
          await s.write({ key, value: bytes(`${step}`) })
          model.set(key, `${step}`)
        } else {
          await s.delete(key)
          model.delete(key)
        }
        if (step % 1000 === 999) expect(await s.list()).toEqual([...model.keys()].sort())
      }
      expect(reads).toBeGreaterThan(3)
      expect(await s.list()).toEqual([...model.keys()].sort())
    })
  }

  it('keeps the index right when many keys are deleted and written again between reads', async () => {
    for (let i = 0; i < 300; i++) await s.write({ key: `k${i}`, value: bytes('1') })
    expect(await s.list()).toHaveLength(300)
    for (let i = 0; i < 300; i++) await s.delete(`k${i}`)
    for (let i = 0; i < 300; i += 2) await s.write({ key: `k${i}`, value: bytes('2') })
    const keys = await s.list()
    expect(keys).toEqual(Array.from({ length: 150 }, (_, i) => `k${i * 2}`).sort())
    for (let i = 0; i < 3; i++) await s.delete(`k${i * 2}`)
    await s.write({ key: 'k0', value: bytes('3') })
    expect(await s.list({ prefix: 'k0' })).toEqual(['k0'])
    expect(await s.list()).toHaveLength(148)
  })

  it('handles 100k keys', async () => {
    const n = 100_000
    const keys: string[] = []
    for (let i = 0; i < n; i++) keys.push(`user/${(i * 7919) % n}`.padEnd(12, '.'))
    for (const k of keys) await s.write({ key: k, value: bytes('v') }, { table: 'big' })
    const all = await s.list({ table: 'big' })
    expect(all).toHaveLength(n)
    expect(all).toEqual([...keys].sort())
    expect(await s.list({ table: 'big', prefix: 'user/9999', limit: 3 })).toEqual([
      'user/9999...',
      'user/99990..',
      'user/99991..',
    ])
    // page through the whole table with offset/limit and interleaved writes to other keys
    let seen = 0
    for (let offset = 0; offset < n; offset += 10_000) {
      const page = await s.list({ table: 'big', offset, limit: 10_000 })
      expect(page[0]).toBe(all[offset])
      seen += page.length
      await s.write({ key: `zzz${offset}`, value: bytes('v') }, { table: 'big' })
    }
    expect(seen).toBe(n)
    expect(await s.read('user/12345', { table: 'big', prefix: true })).toHaveLength(1)
  })
})
