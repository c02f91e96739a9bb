/** The store keeps its own copies: changing what was written or read changes nothing stored. */
import { describe, expect, it } from 'vitest'
import { text, uniqueName, utf8 } from '../util.js'
import type { StoreSuite } from './context.js'

export function storeCopies(t: StoreSuite): void {
  const { h } = t

  describe('copies', () => {
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

    if (t.has('metadata')) {
      it('metadata is copied: changing the written or the read metadata object changes nothing stored', async () => {
        const store = await h.fresh()
        const key = uniqueName('copy-meta')
        const metadata = { name: 'original', nested: { list: ['a'] as unknown[] } }
        const before = structuredClone(metadata)
        await store.write({ key, value: utf8('x'), metadata })
        metadata.name = 'changed by the writer'
        metadata.nested.list.push('added by the writer')
        const [first] = await store.read(key)
        expect(first.metadata).toEqual(before)
        const read = first.metadata as typeof metadata
        read.name = 'changed by a reader'
        read.nested.list.push('added by a reader')
        const [second] = await store.read(key)
        expect(second.metadata).toEqual(before)
        const [viaPrefix] = await store.read(key, { prefix: true })
        expect(viaPrefix.metadata).toEqual(before)
      })
    }
  })
}
