/**
 * Registry records round-trip exactly: node metadata, endpoints and their request/response
 * Value trees, service metadata (`serviceMetadata`), and large services.
 */
import type { Endpoint, Service } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import { uniqueName } from '../util.js'
import { node, type RegistrySuite, service, valueTree } from './context.js'

export function registryRecords(t: RegistrySuite): void {
  const { h, register, see } = t

  describe('records', () => {
    it('node metadata, endpoints and request/response Value trees round-trip exactly', async () => {
      const registry = await h.fresh()
      const name = uniqueName('records')
      const s: Service = {
        name,
        version: 'v1.2.3-beta+build.7',
        endpoints: [
          {
            name: 'Greeter.Hello',
            request: valueTree('Hello'),
            response: {
              name: 'HelloResponse',
              type: 'HelloResponse',
              values: [{ name: 'greeting', type: 'string' }],
            },
            metadata: { method: 'POST' },
          },
          {
            name: 'Greeter.Stream',
            request: valueTree('Stream'),
            response: valueTree('StreamReply'),
            metadata: { stream: 'true' },
          },
          { name: 'Greeter.Subscriber', metadata: { topic: 'events', subscriber: 'true' } },
        ],
        nodes: [
          node(`${name}-1`, {
            transport: 'http',
            protocol: 'mucp',
            registry: t.spec.name,
            'quote"s': `it's`,
            unicode: 'ünï 日本',
          }),
        ],
      }
      await register(registry, s)
      await see(registry, name, (services) => expect(services).toEqual([s]))
    })

    if (t.has('serviceMetadata')) {
      it('service metadata round-trips exactly', async () => {
        const registry = await h.fresh()
        const name = uniqueName('svc-meta')
        const metadata = { owner: 'team-a', 'quote"s': `it's`, unicode: 'ünï 日本' }
        await register(registry, service(name, [node(`${name}-1`)], '1.0.0', { metadata }))
        await see(registry, name, (services) => expect(services[0]?.metadata).toEqual(metadata))
      })
    } else {
      it('serviceMetadata is not declared: services come back without service metadata', async () => {
        const registry = await h.fresh()
        const name = uniqueName('svc-meta-absent')
        await register(
          registry,
          service(name, [node(`${name}-1`)], '1.0.0', { metadata: { owner: 'team-a' } }),
        )
        await see(registry, name, (services) => {
          expect(services).toHaveLength(1)
          const metadata = services[0].metadata
          expect(metadata === undefined || Object.keys(metadata).length === 0, JSON.stringify(metadata)).toBe(
            true,
          )
        })
      })
    }

    it(`a service with ${t.endpointCount} endpoints round-trips`, async () => {
      const registry = await h.fresh()
      const name = uniqueName('big')
      const endpoints: Endpoint[] = Array.from({ length: t.endpointCount }, (_, i) => ({
        name: `Handler.Method${String(i).padStart(3, '0')}`,
        request: valueTree(`M${i}`),
        response: { name: 'Reply', type: 'Reply', values: [{ name: 'ok', type: 'bool' }] },
        metadata: { index: String(i) },
      }))
      const s = service(name, [node(`${name}-1`)], '1.0.0', { endpoints })
      await register(registry, s)
      await see(registry, name, (services) => {
        expect(services).toHaveLength(1)
        expect(services[0].endpoints).toEqual(endpoints)
      })
    })
  })
}
