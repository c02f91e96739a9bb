/** Store `shared`: instances from `create()` share one backend. */
import { describe, expect, it } from 'vitest'
import { eventually, sleep, text, uniqueName, utf8 } from '../util.js'
import { expectGone, type StoreSuite } from './context.js'

export function storeShared(t: StoreSuite): void {
  const { h, visibility } = t

  describe('shared', () => {
    if (!t.has('shared')) {
      it('shared is not declared: instances do not see each other’s records', async () => {
        const a = await h.fresh()
        const b = await h.fresh()
        const key = uniqueName('not-shared')
        await a.write({ key, value: utf8('from a') })
        await sleep(Math.min(visibility, 500))
        await expectGone(b, key)
        expect(await b.list({ prefix: key })).toEqual([])
      })
      return
    }

    it('a write on one instance is read on another, and so is a delete', async () => {
      const a = await h.fresh()
      const b = await h.fresh()
      const key = uniqueName('shared')
      await a.write({ key, value: utf8('from a') })
      await eventually(async () => expect(text((await b.read(key))[0].value)).toBe('from a'), visibility)
      await b.delete(key)
      await eventually(() => expectGone(a, key), visibility)
    })
  })
}
