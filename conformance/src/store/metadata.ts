/** Store record metadata (`metadata`): round-trips and is replaced on rewrite. */
import { describe, expect, it } from 'vitest'
import { uniqueName, utf8 } from '../util.js'
import type { StoreSuite } from './context.js'

export function storeMetadata(t: StoreSuite): void {
  const { h } = t

  describe('metadata', () => {
    if (!t.has('metadata')) {
      it('metadata is not declared: reads carry no metadata', async () => {
        const store = await h.fresh()
        const key = uniqueName('meta-absent')
        await store.write({ key, value: utf8('x'), metadata: { name: 'value' } })
        const [record] = await store.read(key)
        expect(record.metadata === undefined || Object.keys(record.metadata).length === 0).toBe(true)
      })
      return
    }

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
  })
}
