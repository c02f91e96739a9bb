import { setTimeout as delay } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createMemoryRegistry,
  createSelector,
  filterLabel,
  MicroError,
  type Node,
  type Selector,
  type SelectorOptions,
  type Service,
} from '../src/index.js'

const cleanup: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c()
})

function setup(options: Omit<SelectorOptions, 'registry'> = {}) {
  const registry = createMemoryRegistry()
  const selector = createSelector({ registry, ...options })
  cleanup.push(
    () => selector.close(),
    () => registry.close(),
  )
  return { registry, selector }
}

const nodes = (n: number, prefix = 'n', metadata?: Record<string, string>): Node[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, address: `127.0.0.1:${2000 + i}`, metadata }))

async function counts(
  selector: Selector,
  service: string,
  picks: number,
  options = {},
): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (let i = 0; i < picks; i++) {
    const n = await selector.select(service, options)
    out.set(n.id, (out.get(n.id) ?? 0) + 1)
  }
  return out
}

async function selectError(p: Promise<unknown>): Promise<MicroError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(MicroError)
  return err as MicroError
}

describe('selector', () => {
  it('is named after its strategy and rejects unknown ones', () => {
    expect(setup().selector.name).toBe('random')
    expect(setup({ strategy: 'roundrobin' }).selector.name).toBe('roundrobin')
    const registry = createMemoryRegistry()
    expect(() => createSelector({ registry, strategy: 'fastest' as 'random' })).toThrow(
      /unknown selector strategy/,
    )
  })

  it('random and roundrobin always return one of the nodes', async () => {
    for (const strategy of ['random', 'roundrobin'] as const) {
      const { registry, selector } = setup({ strategy })
      await registry.register({ name: 's', version: '1', nodes: nodes(3) })
      for (let i = 0; i < 50; i++) expect(['n0', 'n1', 'n2']).toContain((await selector.select('s')).id)
    }
  })

  it('roundrobin splits picks evenly and rotates per service', async () => {
    const { registry, selector } = setup({ strategy: 'roundrobin' })
    await registry.register({ name: 'a', version: '1', nodes: nodes(4, 'a') })
    await registry.register({ name: 'b', version: '1', nodes: nodes(3, 'b') })
    const a = await counts(selector, 'a', 400)
    expect([...a.values()]).toEqual([100, 100, 100, 100])
    // Interleaving another service does not disturb the rotation of the first.
    const seen: string[] = []
    for (let i = 0; i < 8; i++) {
      seen.push((await selector.select('a')).id)
      await selector.select('b')
    }
    expect(new Set(seen.slice(0, 4)).size).toBe(4)
    expect(seen.slice(4)).toEqual(seen.slice(0, 4))
  })

  it('roundrobin does not always start at the same node', async () => {
    const firsts = new Set<string>()
    for (let i = 0; i < 40; i++) {
      const { registry, selector } = setup({ strategy: 'roundrobin' })
      await registry.register({ name: 's', version: '1', nodes: nodes(4) })
      firsts.add((await selector.select('s')).id)
    }
    expect(firsts.size).toBeGreaterThan(1)
  })

  it('random reaches every node', async () => {
    const { registry, selector } = setup()
    await registry.register({ name: 's', version: '1', nodes: nodes(4) })
    const c = await counts(selector, 's', 400)
    expect([...c.keys()].sort()).toEqual(['n0', 'n1', 'n2', 'n3'])
  })

  it('filters by version, endpoint, node metadata and custom filters', async () => {
    const { registry, selector } = setup({ strategy: 'roundrobin' })
    const v1: Service = {
      name: 's',
      version: '1',
      endpoints: [{ name: 'S.Old' }],
      nodes: [
        { id: 'v1-eu', address: 'h:1', metadata: { region: 'eu', tier: 'a' } },
        { id: 'v1-us', address: 'h:2', metadata: { region: 'us', tier: 'a' } },
      ],
    }
    const v2: Service = {
      name: 's',
      version: '2',
      endpoints: [{ name: 'S.Old' }, { name: 'S.New' }],
      nodes: [{ id: 'v2-eu', address: 'h:3', metadata: { region: 'eu', tier: 'b' } }],
    }
    await registry.register(v1)
    await registry.register(v2)
    const ids = async (options: object, picks = 12) =>
      [...(await counts(selector, 's', picks, options)).keys()].sort()
    expect(await ids({ version: '1' })).toEqual(['v1-eu', 'v1-us'])
    expect(await ids({ version: '2' })).toEqual(['v2-eu'])
    expect(await ids({ endpoint: 'S.New' })).toEqual(['v2-eu'])
    expect(await ids({ endpoint: 'S.Old' })).toEqual(['v1-eu', 'v1-us', 'v2-eu'])
    expect(await ids({ metadata: { region: 'eu' } })).toEqual(['v1-eu', 'v2-eu'])
    expect(await ids({ metadata: { region: 'eu', tier: 'a' } })).toEqual(['v1-eu'])
    expect(await ids({ filters: [filterLabel('region', 'us')] })).toEqual(['v1-us'])
    expect(await ids({ version: '1', metadata: { region: 'eu' } })).toEqual(['v1-eu'])
    expect(await ids({ filters: [(ss: Service[]) => ss.filter((s) => s.version === '2')] })).toEqual([
      'v2-eu',
    ])
    const none = await selectError(selector.select('s', { version: '3' }))
    expect(none).toMatchObject({ id: 'go.micro.selector', code: 503, detail: 'none available' })
    expect(await selectError(selector.select('s', { endpoint: 'S.Gone' }))).toMatchObject({ code: 503 })
    expect(await selectError(selector.select('s', { metadata: { region: 'mars' } }))).toMatchObject({
      code: 503,
    })
  })

  it('hands out the cached node read-only: a change throws, and neither a custom filter nor a caller can alter later picks', async () => {
    const { registry, selector } = setup()
    await registry.register({ name: 's', version: '1', nodes: nodes(1) })
    const node = await selector.select('s')
    expect(Object.isFrozen(node)).toBe(true)
    expect(() => {
      ;(node as { address: string }).address = 'evil:1'
    }).toThrow(TypeError)
    // A custom filter gets its own copy and may change it without touching the cache.
    const changed = await selector.select('s', {
      filters: [
        (ss: Service[]) => {
          ss[0].nodes[0].address = 'filtered:1'
          return ss
        },
      ],
    })
    expect(changed.address).toBe('filtered:1')
    expect((await selector.select('s')).address).toBe('127.0.0.1:2000')
  })

  it('404 naming the service for an unknown service', async () => {
    const { selector } = setup()
    const err = await selectError(selector.select('nope'))
    expect(err).toMatchObject({
      id: 'go.micro.selector',
      code: 404,
      detail: 'service nope not found',
      status: 'Not Found',
    })
  })

  it('exclude is strict: excluded nodes are never picked, and excluding all is 503', async () => {
    const { registry, selector } = setup({ strategy: 'roundrobin' })
    await registry.register({ name: 's', version: '1', nodes: nodes(3) })
    expect([...(await counts(selector, 's', 30, { exclude: ['n0', 'n2'] })).keys()]).toEqual(['n1'])
    expect(await selectError(selector.select('s', { exclude: new Set(['n0', 'n1', 'n2']) }))).toMatchObject({
      code: 503,
      detail: 'none available',
    })
  })

  it('mark(error) sets a node aside; success clears it; after setAsideMs it returns', async () => {
    const { registry, selector } = setup({ strategy: 'roundrobin', setAsideMs: 150 })
    await registry.register({ name: 's', version: '1', nodes: nodes(3) })
    const bad = (await selector.select('s', { exclude: ['n0', 'n2'] })) as Node
    selector.mark('s', bad, new Error('connection refused'))
    expect((await counts(selector, 's', 30)).has('n1')).toBe(false)
    selector.mark('s', bad) // a success clears it at once
    expect((await counts(selector, 's', 30)).get('n1')).toBe(10)
    selector.mark('s', bad, new Error('again'))
    expect((await counts(selector, 's', 30)).has('n1')).toBe(false)
    await delay(200)
    expect((await counts(selector, 's', 30)).get('n1')).toBe(10)
    // Marks are per service.
    await registry.register({ name: 't', version: '1', nodes: nodes(3) })
    selector.mark('s', bad, new Error('x'))
    expect((await counts(selector, 't', 30)).get('n1')).toBe(10)
  })

  it('when every candidate is set aside it still picks one of them (a suspect node beats none)', async () => {
    const { registry, selector } = setup({ strategy: 'roundrobin' })
    await registry.register({ name: 's', version: '1', nodes: nodes(2) })
    for (const n of nodes(2)) selector.mark('s', n, new Error('down'))
    expect([...(await counts(selector, 's', 10)).keys()].sort()).toEqual(['n0', 'n1'])
    // ...but never one the call excluded.
    expect([...(await counts(selector, 's', 10, { exclude: ['n0'] })).keys()]).toEqual(['n1'])
    expect(await selectError(selector.select('s', { exclude: ['n0', 'n1'] }))).toMatchObject({ code: 503 })
  })

  it('follows the registry through its cache: new nodes appear and removed ones go without waiting for the TTL', async () => {
    const { registry, selector } = setup({ strategy: 'roundrobin' })
    await registry.register({ name: 's', version: '1', nodes: nodes(1) })
    expect((await selector.select('s')).id).toBe('n0')
    await registry.register({ name: 's', version: '1', nodes: nodes(2) })
    await delay(20)
    expect([...(await counts(selector, 's', 10)).keys()].sort()).toEqual(['n0', 'n1'])
    await registry.deregister({ name: 's', version: '1', nodes: [nodes(1)[0]] })
    await delay(20)
    expect([...(await counts(selector, 's', 10)).keys()]).toEqual(['n1'])
    await registry.deregister({ name: 's', version: '1', nodes: nodes(2) })
    await delay(20)
    expect(await selectError(selector.select('s'))).toMatchObject({ code: 404 })
  })

  it('reset() forgets the cache and the set-aside marks of one service', async () => {
    const { registry, selector } = setup({ strategy: 'roundrobin', cacheTtl: 60_000 })
    await registry.register({ name: 's', version: '1', nodes: nodes(2) })
    await selector.select('s')
    selector.mark('s', nodes(2)[0], new Error('down'))
    selector.reset('s')
    expect([...(await counts(selector, 's', 10)).keys()].sort()).toEqual(['n0', 'n1'])
  })

  it('cacheTtl 0 asks the registry on every select', async () => {
    const registry = createMemoryRegistry()
    let lookups = 0
    const counting = new Proxy(registry, {
      get(target, prop, receiver) {
        if (prop === 'getService') {
          return (name: string) => {
            lookups++
            return target.getService(name)
          }
        }
        return Reflect.get(target, prop, receiver)
      },
    })
    const selector = createSelector({ registry: counting, cacheTtl: 0 })
    cleanup.push(
      () => selector.close(),
      () => registry.close(),
    )
    await registry.register({ name: 's', version: '1', nodes: nodes(1) })
    for (let i = 0; i < 5; i++) await selector.select('s')
    expect(lookups).toBe(5)
  })

  it('a failing registry surfaces as a MicroError, and a cached answer rides it out', async () => {
    const registry = createMemoryRegistry()
    let failing = false
    const flaky = new Proxy(registry, {
      get(target, prop, receiver) {
        if (prop === 'getService') {
          return (name: string) =>
            failing ? Promise.reject(new Error('etcd unreachable')) : target.getService(name)
        }
        return Reflect.get(target, prop, receiver)
      },
    })
    const selector = createSelector({ registry: flaky, cacheTtl: 10 })
    cleanup.push(
      () => selector.close(),
      () => registry.close(),
    )
    failing = true
    const err = await selectError(selector.select('s'))
    expect(err).toMatchObject({ id: 'go.micro.selector', code: 500 })
    expect(err.detail).toMatch(/etcd unreachable/)
    failing = false
    await registry.register({ name: 's', version: '1', nodes: nodes(1) })
    await selector.select('s')
    failing = true
    await delay(30)
    expect((await selector.select('s')).id).toBe('n0')
  })
})
