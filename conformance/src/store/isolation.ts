/** Store databases and tables are isolated from each other and from the defaults. */
import type { ScopeOptions } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import { text, uniqueName, utf8 } from '../util.js'
import { expectGone, type StoreSuite } from './context.js'

export function storeIsolation(t: StoreSuite): void {
  const { h, db1, db2, t1, t2 } = t

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
}
