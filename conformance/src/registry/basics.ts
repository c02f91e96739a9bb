/** Registry basics: register, look up, merge nodes, one Service per version, list, replace. */
import { describe, expect, it } from 'vitest'
import { eventually, expectMicroError, uniqueName } from '../util.js'
import { byVersion, ids, node, type RegistrySuite, service } from './context.js'

export function registryBasics(t: RegistrySuite): void {
  const { h, register, see, listed } = t

  describe('basics', () => {
    it('a registered node is returned by getService with its id, address and metadata', async () => {
      const registry = await h.fresh()
      const name = uniqueName('svc')
      const n = node(`${name}-1`, { region: 'eu', zone: 'a' })
      await register(registry, service(name, [n]))
      await see(registry, name, (services) => {
        expect(services).toHaveLength(1)
        expect(services[0].name).toBe(name)
        expect(services[0].version).toBe('1.0.0')
        expect(services[0].nodes).toEqual([n])
      })
    })

    it('getService of an unknown name rejects with a 404 MicroError', async () => {
      const registry = await h.fresh()
      const err = await expectMicroError(registry.getService(uniqueName('unknown')), 404)
      expect(err.detail).toBe('service not found')
    })

    it('nodes of one service and version registered separately merge into one Service', async () => {
      const registry = await h.fresh()
      const name = uniqueName('merge')
      await register(registry, service(name, [node(`${name}-1`)]))
      await register(registry, service(name, [node(`${name}-2`)]))
      await register(registry, service(name, [node(`${name}-3`), node(`${name}-4`)]))
      await see(registry, name, (services) => {
        expect(services).toHaveLength(1)
        expect(ids(services[0])).toEqual([1, 2, 3, 4].map((i) => `${name}-${i}`))
      })
    })

    it('getService returns one Service per version (go-micro)', async () => {
      const registry = await h.fresh()
      const name = uniqueName('versions')
      await register(registry, service(name, [node(`${name}-a`)], '1.0.0'))
      await register(registry, service(name, [node(`${name}-b`), node(`${name}-c`)], '2.0.0'))
      await see(registry, name, (services) => {
        const sorted = byVersion(services)
        expect(sorted.map((s) => s.version)).toEqual(['1.0.0', '2.0.0'])
        expect(ids(sorted[0])).toEqual([`${name}-a`])
        expect(ids(sorted[1])).toEqual([`${name}-b`, `${name}-c`])
      })
    })

    it('listServices has one entry per name and version (go-micro)', async () => {
      const registry = await h.fresh()
      const base = uniqueName('list')
      await register(registry, service(`${base}-a`, [node(`${base}-a1`), node(`${base}-a2`)], '1.0.0'))
      await register(registry, service(`${base}-a`, [node(`${base}-a3`)], '2.0.0'))
      await register(registry, service(`${base}-b`, [node(`${base}-b1`)], '1.0.0'))
      await eventually(
        async () =>
          expect(await listed(registry, base)).toEqual([
            `${base}-a@1.0.0`,
            `${base}-a@2.0.0`,
            `${base}-b@1.0.0`,
          ]),
        t.visibility,
      )
    })

    it('registering a node again replaces its record', async () => {
      const registry = await h.fresh()
      const name = uniqueName('replace')
      await register(
        registry,
        service(name, [{ id: `${name}-1`, address: '127.0.0.1:1111', metadata: { v: '1' } }]),
      )
      const updated = { id: `${name}-1`, address: '127.0.0.1:2222', metadata: { v: '2' } }
      await register(registry, service(name, [updated]))
      await see(registry, name, (services) => {
        expect(services).toHaveLength(1)
        expect(services[0].nodes).toEqual([updated])
      })
    })

    it(`${t.concurrency} concurrent registrations of one service all land`, async () => {
      const registry = await h.fresh()
      const name = uniqueName('concurrent')
      const nodes = Array.from({ length: t.concurrency }, (_, i) =>
        node(`${name}-${String(i).padStart(4, '0')}`),
      )
      await Promise.all(nodes.map((n) => register(registry, service(name, [n]))))
      await see(registry, name, (services) => {
        expect(services).toHaveLength(1)
        expect(ids(services[0])).toEqual(nodes.map((n) => n.id))
      })
    })

    it('register with an empty service name rejects with a 400 MicroError', async () => {
      const registry = await h.fresh()
      await expectMicroError(registry.register(service('', [node(uniqueName('n'))])), 400)
    })

    it('close() twice is harmless', async () => {
      const registry = await h.fresh()
      await h.close(registry)
      await registry.close()
    })
  })
}
