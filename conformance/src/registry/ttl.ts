/** Registry TTLs (`ttl`): a node not refreshed in time disappears; a refresh keeps it. */
import { describe, expect, it } from 'vitest'
import { eventually, sleep, uniqueName } from '../util.js'
import { ids, node, type RegistrySuite, service } from './context.js'

export function registryTtl(t: RegistrySuite): void {
  const { h, register, see, lookup, ttl, tolerance } = t

  describe('ttl', () => {
    if (!t.has('ttl')) {
      it('ttl is not declared: a node registered with a TTL outlives it', async () => {
        const registry = await h.fresh()
        const name = uniqueName('ttl-absent')
        await register(registry, service(name, [node(`${name}-1`)]), { ttl })
        await see(registry, name, (services) => expect(ids(services[0])).toEqual([`${name}-1`]))
        await sleep(ttl + tolerance)
        expect(ids((await lookup(registry, name))[0])).toEqual([`${name}-1`])
      })
      return
    }

    it('a node not refreshed within its TTL disappears; one without a TTL stays (go-micro)', async () => {
      const registry = await h.fresh()
      const name = uniqueName('ttl')
      await register(registry, service(name, [node(`${name}-leased`)]), { ttl })
      await register(registry, service(name, [node(`${name}-forever`)]))
      await see(registry, name, (services) =>
        expect(ids(services[0])).toEqual([`${name}-forever`, `${name}-leased`]),
      )
      await sleep(ttl)
      await eventually(
        async () => expect(ids((await lookup(registry, name))[0])).toEqual([`${name}-forever`]),
        tolerance,
      )
    })

    it('a node whose TTL runs out with no other node leaves no nodes behind', async () => {
      const registry = await h.fresh()
      const name = uniqueName('ttl-last')
      await register(registry, service(name, [node(`${name}-1`)]), { ttl })
      await see(registry, name, (services) => expect(services).toHaveLength(1))
      await sleep(ttl)
      await eventually(async () => {
        const services = await lookup(registry, name)
        expect(services.flatMap((s) => s.nodes)).toEqual([])
      }, tolerance)
    })

    it('registering again before the TTL runs out keeps the node', async () => {
      const registry = await h.fresh()
      const name = uniqueName('ttl-refresh')
      const s = service(name, [node(`${name}-1`)])
      await register(registry, s, { ttl })
      const until = Date.now() + ttl * 2 + tolerance
      while (Date.now() < until) {
        await sleep(ttl / 4)
        await registry.register(s, { ttl })
        expect(ids((await lookup(registry, name))[0]), 'node lost although refreshed').toEqual([`${name}-1`])
      }
      await sleep(ttl)
      await eventually(
        async () => expect((await lookup(registry, name)).flatMap((x) => x.nodes)).toEqual([]),
        tolerance,
      )
    })
  })
}
