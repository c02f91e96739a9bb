/**
 * `MICRO_REGISTRY=etcd` end to end: core's plugin loader resolves this package by its short
 * name, a service registers in etcd, and a client finds it there and calls it.
 */
import { fileURLToPath } from 'node:url'
import { eventually, requireThat } from '@micro-ts/conformance/testing'
import { EtcdServer } from '@micro-ts/conformance/testing/etcd'
import { createService, isMicroError, loadPlugin, silentLogger } from '@micro-ts/core'
import { Etcd3 } from 'etcd3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PREFIX } from '../src/index.js'
import { SHARED_ADDRESS, serviceName, sharedEtcd } from './helpers.js'

const up = await sharedEtcd()
const binary = requireThat(
  EtcdServer.available(),
  'the etcd binary is not installed (scripts/backends.sh etcd)',
)

class Greeter {
  async Hello(req: { name: string }) {
    return { greeting: `Hello ${req.name}` }
  }
}

describe.runIf(up)('MICRO_REGISTRY=etcd through the plugin loader', () => {
  // The loader resolves plugins from the application's directory: here, this package.
  let cwd: string
  beforeAll(() => {
    cwd = process.cwd()
    process.chdir(fileURLToPath(new URL('..', import.meta.url)))
  })
  afterAll(() => process.chdir(cwd))

  const env = {
    MICRO_REGISTRY: 'etcd',
    MICRO_REGISTRY_ADDRESS: SHARED_ADDRESS,
    MICRO_BROKER: 'memory',
    MICRO_STORE: 'memory',
    MICRO_SERVER_ADDRESS: '127.0.0.1:0',
  }

  it('loadPlugin("registry", "etcd") gives this package’s registry', async () => {
    const registry = await loadPlugin('registry', 'etcd', { addresses: [SHARED_ADDRESS] })
    expect(registry.name).toBe('etcd')
    await registry.close()
  })

  it('a service registers in etcd under go-micro’s key, answers calls, and deregisters on stop', async () => {
    const name = serviceName('service')
    const service = await createService({ name, env, logger: silentLogger })
    service.handle(new Greeter())
    await service.start()
    const raw = new Etcd3({ hosts: SHARED_ADDRESS })
    try {
      const keys = await raw.getAll().prefix(`${PREFIX}${name}/`).keys()
      expect(keys).toHaveLength(1)
      const client = await createService({ name: `${name}.client`, env, logger: silentLogger })
      try {
        expect(await client.client.call(name, 'Greeter.Hello', { name: 'John' })).toEqual({
          greeting: 'Hello John',
        })
        await service.stop()
        expect(await raw.getAll().prefix(`${PREFIX}${name}/`).keys()).toEqual([])
        const err = await client.registry.getService(name).catch((e: unknown) => e)
        expect(isMicroError(err) && err.code).toBe(404)
      } finally {
        await client.stop()
      }
    } finally {
      await service.stop()
      raw.close()
    }
  })
})

describe.runIf(binary)('a service on etcd while etcd is killed and restarted', () => {
  let server: EtcdServer
  let cwd: string
  beforeAll(async () => {
    cwd = process.cwd()
    process.chdir(fileURLToPath(new URL('..', import.meta.url)))
    server = await EtcdServer.start()
  })
  afterAll(async () => {
    process.chdir(cwd)
    await server?.stop()
  })

  it('calls keep being answered after etcd comes back, and the service is registered again', async () => {
    const env = {
      MICRO_REGISTRY: 'etcd',
      MICRO_REGISTRY_ADDRESS: server.address,
      MICRO_BROKER: 'memory',
      MICRO_STORE: 'memory',
      MICRO_SERVER_ADDRESS: '127.0.0.1:0',
      MICRO_REGISTER_TTL: '3',
      MICRO_REGISTER_INTERVAL: '1',
    }
    const name = serviceName('restart')
    const service = await createService({ name, env, logger: silentLogger })
    service.handle(new Greeter())
    await service.start()
    const client = await createService({ name: `${name}.client`, env, logger: silentLogger })
    try {
      let ok = 0
      let failed = 0
      let running = true
      const loop = (async () => {
        while (running) {
          try {
            await client.client.call(name, 'Greeter.Hello', { name: 'loop' }, { timeout: 2000 })
            ok++
          } catch {
            failed++
          }
          await new Promise((r) => setTimeout(r, 50))
        }
      })()
      await eventually(() => expect(ok).toBeGreaterThanOrEqual(5), 10_000)
      await server.wipe(1500) // etcd comes back empty
      const before = ok
      // Recovered: calls succeed again, and etcd holds the node again (re-registered by itself).
      await eventually(() => expect(ok).toBeGreaterThanOrEqual(before + 10), 20_000)
      const fresh = await createService({ name: `${name}.fresh`, env, logger: silentLogger })
      try {
        await eventually(
          async () => expect((await fresh.registry.getService(name))[0].nodes).toHaveLength(1),
          20_000,
        )
        expect(await fresh.client.call(name, 'Greeter.Hello', { name: 'new' })).toEqual({
          greeting: 'Hello new',
        })
      } finally {
        await fresh.stop()
      }
      running = false
      await loop
      // Calls during the outage may fail; recovery is what is asserted.
      expect(ok, `${failed} calls failed during the outage`).toBeGreaterThan(before)
    } finally {
      await client.stop()
      await service.stop()
    }
  })
})
