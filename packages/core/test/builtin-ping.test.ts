/** The built-ins' ping(), which /health/ready calls: it answers while usable and says 503 when not. */
import { describe, expect, it } from 'vitest'
import { createHttpBroker, createMemoryBroker } from '../src/broker/index.js'
import { createMdnsRegistry, createMemoryRegistry } from '../src/registry/index.js'
import { createMemoryStore } from '../src/store/index.js'

async function expect503(p: Promise<unknown> | undefined): Promise<void> {
  await expect(p).rejects.toMatchObject({ code: 503 })
}

describe('ping() of the built-ins', () => {
  it('memory registry, store: answer while open, 503 after close', async () => {
    const registry = createMemoryRegistry()
    const store = createMemoryStore()
    await registry.ping?.()
    await store.ping?.()
    await registry.close()
    await store.close()
    await expect503(registry.ping?.())
    await expect503(store.ping?.())
  })

  it('mdns registry: answers while open without a query, 503 after close', async () => {
    const registry = createMdnsRegistry({ port: 5391 })
    await registry.ping?.()
    await registry.close()
    await expect503(registry.ping?.())
  })

  it('memory and http brokers: 503 until connected and after disconnect', async () => {
    const registry = createMemoryRegistry()
    for (const broker of [createMemoryBroker(), createHttpBroker({ registry })]) {
      await expect503(broker.ping?.())
      await broker.connect()
      await broker.ping?.()
      await broker.disconnect()
      await expect503(broker.ping?.())
    }
    await registry.close()
  })
})
