/**
 * Store basics: write, read, replace and delete (in every scope), byte-exact values, large
 * values, concurrent writers, the 400s for bad input and close().
 */
import type { StoreRecord } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import {
  allBytes,
  expectBytes,
  expectMicroError,
  randomBytes,
  size,
  text,
  uniqueName,
  utf8,
} from '../util.js'
import { expectGone, type StoreSuite } from './context.js'

export function storeBasics(t: StoreSuite): void {
  const { h, large, concurrency } = t

  describe('basics', () => {
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

    t.eachScope((scope) => {
      it('write, read and delete (go-micro)', async () => {
        const store = await h.fresh()
        const key = uniqueName('basic')
        await store.write({ key, value: utf8('bar') }, scope)
        expect((await store.read(key, scope)).map((r) => [r.key, text(r.value)])).toEqual([[key, 'bar']])
        await store.delete(key, scope)
        await expectGone(store, key, scope)
      })
    })
  })
}
