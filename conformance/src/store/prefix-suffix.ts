/**
 * Store filters, in every scope: prefix and suffix reads and lists, both at once, and limit and
 * offset applied after the filters, in key order.
 */
import { describe, expect, it } from 'vitest'
import { sorted, text, uniqueName } from '../util.js'
import { keysOf, type StoreSuite, writeAll } from './context.js'

export function storePrefixSuffix(t: StoreSuite): void {
  const { h } = t

  describe('prefix and suffix', () => {
    t.eachScope((scope) => {
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
        await writeAll(
          store,
          [`${base}-0`, ...a.slice(5), `${base}-b0`, ...a.slice(0, 5), `${base}-a`],
          scope,
        )
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

      it('a suffix filter pages with limit and offset after the filter, alone and with a prefix', async () => {
        const store = await h.fresh()
        const base = uniqueName('sfx-page')
        const end = `-${base}-x`
        const xs = Array.from({ length: 8 }, (_, i) => `${base}-${i}${end}`)
        // Keys that share the prefix but not the suffix, or the suffix but not the prefix, sorted among the matches.
        const noise = [...xs.map((k) => `${k}y`), ...xs.map((_, i) => `${base}-${i}-y`), `a${end}`, `z${end}`]
        await writeAll(store, [...noise, ...[...xs].reverse()], scope)
        const withPrefix = (limit?: number, offset?: number) =>
          store.list({ ...scope, prefix: `${base}-`, suffix: end, limit, offset })
        expect(await withPrefix()).toEqual(xs)
        expect(await withPrefix(3, 2)).toEqual(xs.slice(2, 5))
        expect(await withPrefix(100, 7)).toEqual(xs.slice(7))
        expect(await withPrefix(undefined, 8)).toEqual([])
        const all = [`a${end}`, ...xs, `z${end}`]
        const bySuffix = (limit?: number, offset?: number) =>
          keysOf(store.read(end, { ...scope, suffix: true, limit, offset }))
        expect(await bySuffix()).toEqual(all)
        expect(await bySuffix(4, 1)).toEqual(all.slice(1, 5))
        expect(await bySuffix(2, 9)).toEqual(all.slice(9))
        expect(await bySuffix(undefined, 10)).toEqual([])
        expect(await store.list({ ...scope, suffix: end, limit: 1, offset: 9 })).toEqual([`z${end}`])
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
  })
}
