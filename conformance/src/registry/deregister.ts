/** Registry deregister: one node, the last node, one version, and nothing registered. */
import { describe, expect, it } from 'vitest'
import { eventually, expectMicroError, uniqueName } from '../util.js'
import { ids, node, type RegistrySuite, service } from './context.js'

export function registryDeregister(t: RegistrySuite): void {
  const { h, register, see, listed } = t

  describe('deregister', () => {
    it('deregistering one node leaves the others', async () => {
      const registry = await h.fresh()
      const name = uniqueName('dereg-one')
      const [a, b, c] = [node(`${name}-a`), node(`${name}-b`), node(`${name}-c`)]
      await register(registry, service(name, [a, b, c]))
      await see(registry, name, (services) => expect(ids(services[0])).toHaveLength(3))
      await registry.deregister(service(name, [b]))
      await see(registry, name, (services) => {
        expect(services).toHaveLength(1)
        expect(ids(services[0])).toEqual([a.id, c.id])
      })
    })

    it('deregistering the last node removes the service: getService rejects with 404 (go-micro)', async () => {
      const registry = await h.fresh()
      const name = uniqueName('dereg-last')
      const n = node(`${name}-1`)
      await register(registry, service(name, [n]))
      await see(registry, name, (services) => expect(services).toHaveLength(1))
      await registry.deregister(service(name, [n]))
      await eventually(() => expectMicroError(registry.getService(name), 404), t.visibility)
      await eventually(async () => expect(await listed(registry, name)).toEqual([]), t.visibility)
    })

    it('deregistering one version leaves the other versions', async () => {
      const registry = await h.fresh()
      const name = uniqueName('dereg-version')
      const v1 = service(name, [node(`${name}-1`)], '1.0.0')
      const v2 = service(name, [node(`${name}-2`)], '2.0.0')
      await register(registry, v1)
      await register(registry, v2)
      await see(registry, name, (services) => expect(services).toHaveLength(2))
      await registry.deregister(v1)
      await see(registry, name, (services) => {
        expect(services.map((s) => s.version)).toEqual(['2.0.0'])
        expect(ids(services[0])).toEqual([`${name}-2`])
      })
    })

    it('deregistering a service that is not registered is not an error', async () => {
      const registry = await h.fresh()
      const name = uniqueName('never')
      await expect(registry.deregister(service(name, [node(`${name}-1`)]))).resolves.toBeUndefined()
    })

    it('deregistering some nodes of a service registered one by one leaves the others exactly', async () => {
      const registry = await h.fresh()
      const name = uniqueName('dereg-some')
      const [a, b, c] = [node(`${name}-a`), node(`${name}-b`, { keep: 'me' }), node(`${name}-c`)]
      for (const n of [a, b, c]) await register(registry, service(name, [n]))
      await see(registry, name, (services) => expect(ids(services[0])).toEqual([a.id, b.id, c.id]))
      await registry.deregister(service(name, [a, c]))
      await see(registry, name, (services) => {
        expect(services).toHaveLength(1)
        expect(services[0].nodes).toEqual([b])
      })
    })
  })
}
