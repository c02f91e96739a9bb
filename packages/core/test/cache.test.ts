import { setTimeout as delay } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type CacheOptions,
  createMemoryRegistry,
  createRegistryCache,
  MemoryRegistry,
  MicroError,
  type RegisterOptions,
  type Registry,
  type RegistryCache,
  type Service,
  type Watcher,
  type WatchOptions,
} from '../src/index.js'

/** A real memory registry that counts lookups and can be made slow or failing. */
class CountingRegistry implements Registry {
  readonly name = 'counting'
  readonly inner = new MemoryRegistry()
  lookups = 0
  watchers: Watcher[] = []
  /** Delay applied after the lookup ran (so changes during it are not in its answer). */
  slowMs = 0
  failing = false

  register(s: Service, o?: RegisterOptions) {
    return this.inner.register(s, o)
  }
  deregister(s: Service) {
    return this.inner.deregister(s)
  }
  async getService(name: string) {
    this.lookups++
    if (this.failing) throw new MicroError('go.micro.registry', 500, 'backend down')
    const r = await this.inner.getService(name)
    if (this.slowMs) await delay(this.slowMs)
    return r
  }
  listServices() {
    return this.inner.listServices()
  }
  watch(o?: WatchOptions) {
    const w = this.inner.watch(o)
    this.watchers.push(w)
    return w
  }
  close() {
    return this.inner.close()
  }
}

const cleanup: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c()
})

function setup(options: CacheOptions = {}): { reg: CountingRegistry; cache: RegistryCache } {
  const reg = new CountingRegistry()
  const cache = createRegistryCache(reg, options)
  cleanup.push(
    () => cache.close(),
    () => reg.close(),
  )
  return { reg, cache }
}

const svc = (id: string, version = '1', name = 'svc'): Service => ({
  name,
  version,
  nodes: [{ id, address: `127.0.0.1:${1000 + id.length}` }],
})
const ids = (services: Service[]) =>
  services.flatMap((s) => s.nodes.map((n) => `${s.version}/${n.id}`)).sort()

/** Wait until `fn` holds (watch events are delivered asynchronously). */
async function until(fn: () => boolean | Promise<boolean>, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await delay(5)
  }
}

describe('registry cache', () => {
  it('answers from memory within the TTL', async () => {
    const { reg, cache } = setup()
    await reg.register(svc('a'))
    expect(ids(await cache.getService('svc'))).toEqual(['1/a'])
    expect(ids(await cache.getService('svc'))).toEqual(['1/a'])
    expect(reg.lookups).toBe(1)
    expect(cache.name).toBe('counting')
  })

  it('asks again once the TTL ran out', async () => {
    const { reg, cache } = setup({ ttl: 40 })
    await reg.register(svc('a'))
    await cache.getService('svc')
    await delay(80)
    await cache.getService('svc')
    expect(reg.lookups).toBe(2)
  })

  it('stays fresh through watch events: create, update and delete change entries without a lookup', async () => {
    const { reg, cache } = setup()
    await reg.register(svc('a'))
    await cache.getService('svc')
    await until(() => reg.watchers.length === 1)
    await reg.register(svc('b'))
    await until(async () => ids(await cache.getService('svc')).length === 2)
    expect(ids(await cache.getService('svc'))).toEqual(['1/a', '1/b'])
    await reg.register(svc('c', '2'))
    await until(async () => ids(await cache.getService('svc')).length === 3)
    expect(ids(await cache.getService('svc'))).toEqual(['1/a', '1/b', '2/c'])
    // An updated record replaces the node.
    await reg.register({ name: 'svc', version: '1', nodes: [{ id: 'a', address: '10.9.9.9:1' }] })
    await until(async () =>
      (await cache.getService('svc')).some((s) => s.nodes.some((n) => n.address === '10.9.9.9:1')),
    )
    await reg.deregister(svc('a'))
    await until(async () => ids(await cache.getService('svc')).length === 2)
    expect(ids(await cache.getService('svc'))).toEqual(['1/b', '2/c'])
    expect(reg.lookups).toBe(1)
    // The last nodes going evicts the entry: the next lookup asks the registry, which says 404.
    await reg.deregister(svc('b'))
    await reg.deregister(svc('c', '2'))
    await until(async () => {
      try {
        await cache.getService('svc')
        return false
      } catch (err) {
        return (err as MicroError).code === 404
      }
    })
    expect(reg.lookups).toBe(2)
  })

  it('events for names it does not cache are ignored', async () => {
    const { reg, cache } = setup()
    await reg.register(svc('a'))
    await cache.getService('svc')
    await reg.register(svc('x', '1', 'other'))
    await delay(20)
    await expect(cache.getService('other')).resolves.toHaveLength(1)
    expect(reg.lookups).toBe(2)
  })

  it('singleflight: concurrent misses share one lookup', async () => {
    const { reg, cache } = setup()
    reg.slowMs = 50
    await reg.register(svc('a'))
    const all = await Promise.all(Array.from({ length: 100 }, () => cache.getService('svc')))
    expect(reg.lookups).toBe(1)
    expect(all.every((r) => ids(r).join() === '1/a')).toBe(true)
    // Every caller got its own copy.
    all[0][0].nodes.length = 0
    expect(ids(all[1])).toEqual(['1/a'])
    expect(ids(await cache.getService('svc'))).toEqual(['1/a'])
  })

  it('a change during a lookup is not lost', async () => {
    const { reg, cache } = setup()
    await reg.register(svc('a'))
    await cache.getService('svc') // start the watch
    await until(() => reg.watchers.length === 1)
    cache.invalidate('svc')
    reg.slowMs = 50
    const pending = cache.getService('svc') // answers [a], delivered 50 ms later
    await delay(10)
    await reg.register(svc('b'))
    expect(ids(await pending)).toEqual(['1/a', '1/b'])
    expect(ids(await cache.getService('svc'))).toEqual(['1/a', '1/b'])
  })

  it('serves the stale entry when the registry fails, and retries only after retryInterval', async () => {
    const { reg, cache } = setup({ ttl: 20, retryInterval: 100 })
    await reg.register(svc('a'))
    await cache.getService('svc')
    await delay(40)
    reg.failing = true
    expect(ids(await cache.getService('svc'))).toEqual(['1/a'])
    expect(reg.lookups).toBe(2)
    expect(ids(await cache.getService('svc'))).toEqual(['1/a'])
    expect(reg.lookups).toBe(2) // throttled
    await delay(130)
    expect(ids(await cache.getService('svc'))).toEqual(['1/a'])
    expect(reg.lookups).toBe(3)
    reg.failing = false
    await delay(130)
    await cache.getService('svc')
    expect(reg.lookups).toBe(4)
  })

  it('without an entry the registry error is thrown', async () => {
    const { reg, cache } = setup()
    reg.failing = true
    await expect(cache.getService('svc')).rejects.toMatchObject({ code: 500, detail: 'backend down' })
  })

  it('never hides not-found behind a stale entry', async () => {
    const { reg, cache } = setup({ ttl: 20, watch: false })
    await reg.register(svc('a'))
    await cache.getService('svc')
    await reg.deregister(svc('a'))
    await delay(40)
    await expect(cache.getService('svc')).rejects.toMatchObject({ code: 404, detail: 'service not found' })
    await expect(cache.getService('svc')).rejects.toMatchObject({ code: 404 })
    expect(reg.lookups).toBe(3)
  })

  it('restarts its watch when it ends, and no longer trusts entries it may have missed events for', async () => {
    const { reg, cache } = setup()
    await reg.register(svc('a'))
    await cache.getService('svc')
    await until(() => reg.watchers.length === 1)
    reg.watchers[0].stop()
    await until(() => reg.watchers.length === 2, 3000)
    await cache.getService('svc')
    expect(reg.lookups).toBe(2)
    await reg.register(svc('b'))
    await until(async () => ids(await cache.getService('svc')).length === 2)
  })

  it('close() ends its watch and leaves the registry open', async () => {
    const { reg, cache } = setup()
    await reg.register(svc('a'))
    await cache.getService('svc')
    await until(() => reg.watchers.length === 1)
    const ended = (async () => {
      for await (const _ of reg.watchers[0]) {
        // drain
      }
      return true
    })()
    await cache.close()
    await expect(ended).resolves.toBe(true)
    await expect(reg.getService('svc')).resolves.toHaveLength(1)
  })

  it('delegates writes, lists and watches to the registry', async () => {
    const inner = createMemoryRegistry()
    const cache = createRegistryCache(inner)
    cleanup.push(
      () => cache.close(),
      () => inner.close(),
    )
    await cache.register(svc('a'))
    expect(await inner.listServices()).toHaveLength(1)
    expect(await cache.listServices()).toHaveLength(1)
    await cache.deregister(svc('a'))
    await expect(inner.getService('svc')).rejects.toMatchObject({ code: 404 })
  })
})
