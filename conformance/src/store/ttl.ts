/**
 * Store TTLs (`ttl`), in every scope: record `expiry`, write `ttl` and `expiry` (ttl wins),
 * expiry under prefix, suffix and list, already-expired writes, rewrites, remaining time.
 */
import { describe, expect, it } from 'vitest'
import { eventually, isMicroErrorShape, sleep, text, uniqueName, utf8 } from '../util.js'
import { expectGone, keysOf, type StoreSuite } from './context.js'

export function storeTtl(t: StoreSuite): void {
  const { h, ttl, tolerance } = t

  describe('ttl', () => {
    if (!t.has('ttl')) {
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

    t.eachScope((scope) => {
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

    it('the first read after expiry is already empty: a 404, and [] from a prefix read and from list()', async () => {
      const store = await h.fresh()
      const base = uniqueName('first-read')
      // Each check reads keys nobody read since they expired: a store that returns an expired
      // record once (and deletes it on the way) fails whichever check comes first.
      await store.write({ key: `${base}-single`, value: utf8('x'), expiry: ttl })
      for (const i of [1, 2]) await store.write({ key: `${base}-p-${i}`, value: utf8('x') }, { ttl })
      for (const i of [1, 2])
        await store.write({ key: `${base}-l-${i}`, value: utf8('x') }, { expiry: new Date(Date.now() + ttl) })
      await sleep(ttl + tolerance)
      await expectGone(store, `${base}-single`)
      expect(await store.read(`${base}-p-`, { prefix: true })).toEqual([])
      expect(await store.list({ prefix: `${base}-l-` })).toEqual([])
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
}
