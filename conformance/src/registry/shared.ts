/** Registry `shared`: instances from `create()` see each other's records and events. */
import type { WatchEvent } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import { eventually, expectMicroError, Inbox, sleep, uniqueName } from '../util.js'
import { ids, node, type RegistrySuite, service } from './context.js'

export function registryShared(t: RegistrySuite): void {
  const { h, register, see, lookup, listed, visibility, quiet, watchSettle } = t

  describe('shared', () => {
    if (!t.has('shared')) {
      it('shared is not declared: instances do not see each other’s registrations', async () => {
        const a = await h.fresh()
        const b = await h.fresh()
        const name = uniqueName('not-shared')
        await register(a, service(name, [node(`${name}-1`)]))
        await see(a, name, (services) => expect(services).toHaveLength(1))
        await sleep(quiet)
        expect(await lookup(b, name)).toEqual([])
      })
      return
    }

    it('a registration on one instance is seen by another, and so is its deregistration', async () => {
      const a = await h.fresh()
      const b = await h.fresh()
      const name = uniqueName('shared')
      const s = service(name, [node(`${name}-1`, { from: 'a' })], '1.0.0', {
        endpoints: [{ name: 'Shared.Call', metadata: { k: 'v' } }],
      })
      await register(a, s)
      await see(b, name, (services) => expect(services).toEqual([s]))
      await eventually(async () => expect(await listed(b, name)).toEqual([`${name}@1.0.0`]), visibility)
      await a.deregister(s)
      await eventually(() => expectMicroError(b.getService(name), 404), visibility)
    })

    it('two instances registering nodes of one service both see the merged service', async () => {
      const a = await h.fresh()
      const b = await h.fresh()
      const name = uniqueName('shared-merge')
      await register(a, service(name, [node(`${name}-a`)]))
      await register(b, service(name, [node(`${name}-b`)]))
      for (const r of [a, b])
        await see(r, name, (services) => expect(ids(services[0])).toEqual([`${name}-a`, `${name}-b`]))
    })

    if (t.has('watch')) {
      it("a watcher on one instance sees another instance's create and delete", async () => {
        const a = await h.fresh()
        const b = await h.fresh()
        const name = uniqueName('shared-watch')
        const watcher = b.watch({ service: name })
        const events = new Inbox<WatchEvent>()
        void (async () => {
          try {
            for await (const e of watcher) events.push(e)
          } catch {
            // ended by close
          }
        })()
        h.defer('stop watcher', () => watcher.stop())
        if (watchSettle) await sleep(watchSettle)
        const s = service(name, [node(`${name}-1`)])
        await register(a, s)
        await eventually(() => expect(events.items.some((e) => e.action === 'create')).toBe(true), visibility)
        await a.deregister(s)
        await eventually(() => expect(events.items.some((e) => e.action === 'delete')).toBe(true), visibility)
      })
    }
  })
}
