/**
 * The registry keeps its own copies: changing a registered service object, or one it returned,
 * changes nothing it stores (node metadata, an extra node, endpoint metadata and Value trees,
 * service metadata, a `listServices()` entry).
 */
import type { Service } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import { uniqueName } from '../util.js'
import { node, type RegistrySuite, service, valueTree } from './context.js'

export function registryCopies(t: RegistrySuite): void {
  const { h, register, see } = t

  /** A service with every nested part a caller could change. */
  function record(name: string): Service {
    return service(name, [node(`${name}-1`, { zone: 'a' })], '1.0.0', {
      ...(t.has('serviceMetadata') ? { metadata: { owner: 'team-a' } } : {}),
      endpoints: [{ name: 'Copies.Call', request: valueTree('Copies'), metadata: { method: 'POST' } }],
    })
  }

  /** Change every part of `s` in place. */
  function vandalise(s: Service): void {
    s.version = 'changed'
    s.nodes[0].address = '127.0.0.1:1'
    if (s.nodes[0].metadata) s.nodes[0].metadata.zone = 'changed'
    s.nodes.push(node(`${s.name}-extra`))
    if (s.metadata) s.metadata.owner = 'changed'
    const ep = s.endpoints?.[0]
    if (ep?.metadata) ep.metadata.method = 'changed'
    ep?.request?.values?.push({ name: 'extra', type: 'string' })
    s.endpoints?.push({ name: 'Copies.Extra' })
  }

  describe('copies', () => {
    it('changing a service object after register() changes nothing registered', async () => {
      const registry = await h.fresh()
      const name = uniqueName('copy-in')
      const s = record(name)
      const before = structuredClone(s)
      await register(registry, s)
      vandalise(s)
      await see(registry, name, (services) => expect(services).toEqual([before]))
    })

    it('changing what getService() or listServices() returned changes nothing registered', async () => {
      const registry = await h.fresh()
      const name = uniqueName('copy-out')
      const s = record(name)
      const before = structuredClone(s)
      await register(registry, s)
      await see(registry, name, (services) => expect(services).toEqual([before]))
      const returned = await registry.getService(name)
      for (const r of returned) vandalise(r)
      expect(await registry.getService(name)).toEqual([before])
      const listed = (await registry.listServices()).filter((x) => x.name === name)
      expect(listed.map((x) => x.version)).toEqual(['1.0.0'])
      for (const entry of listed) {
        entry.name = 'changed'
        entry.version = 'changed'
        entry.nodes?.push(node(`${name}-listed`))
        if (entry.metadata) entry.metadata.owner = 'changed'
      }
      expect(await registry.getService(name)).toEqual([before])
      expect((await registry.listServices()).filter((x) => x.name === name).map((x) => x.version)).toEqual([
        '1.0.0',
      ])
    })
  })
}
