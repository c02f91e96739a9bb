import { setTimeout as delay } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createMemoryRegistry,
  MicroError,
  type Registry,
  type Service,
  type WatchEvent,
} from '../src/index.js'

// go-micro's registry/memory_test.go data: two services, several versions, several nodes.
const testData: Record<string, Service[]> = {
  foo: [
    {
      name: 'foo',
      version: '1.0.0',
      nodes: [
        { id: 'foo-1.0.0-123', address: 'localhost:9999' },
        { id: 'foo-1.0.0-321', address: 'localhost:9999' },
      ],
    },
    { name: 'foo', version: '1.0.1', nodes: [{ id: 'foo-1.0.1-321', address: 'localhost:6666' }] },
    { name: 'foo', version: '1.0.3', nodes: [{ id: 'foo-1.0.3-345', address: 'localhost:8888' }] },
  ],
  bar: [
    {
      name: 'bar',
      version: 'default',
      nodes: [
        { id: 'bar-1.0.0-123', address: 'localhost:9999' },
        { id: 'bar-1.0.0-321', address: 'localhost:9999' },
      ],
    },
    { name: 'bar', version: 'latest', nodes: [{ id: 'bar-1.0.1-321', address: 'localhost:6666' }] },
  ],
}

const registries: Registry[] = []
function registry() {
  const r = createMemoryRegistry()
  registries.push(r)
  return r
}
afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.close()))
})

async function expectNotFound(p: Promise<unknown>) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(MicroError)
  expect(err).toMatchObject({
    id: 'go.micro.registry',
    code: 404,
    detail: 'service not found',
    status: 'Not Found',
  })
}

/** Take `n` events from a watcher, failing after `ms`. */
async function take(w: AsyncIterable<WatchEvent>, n: number, ms = 2000): Promise<WatchEvent[]> {
  const out: WatchEvent[] = []
  const it = w[Symbol.asyncIterator]()
  const deadline = Date.now() + ms
  while (out.length < n) {
    const r = await Promise.race([
      it.next(),
      delay(Math.max(0, deadline - Date.now())).then(() => 'timeout' as const),
    ])
    if (r === 'timeout') throw new Error(`timed out after ${out.length} of ${n} events`)
    if (r.done) break
    out.push(r.value)
  }
  return out
}

describe('memory registry (go-micro memory_test cases)', () => {
  it('is named memory', () => {
    expect(registry().name).toBe('memory')
  })

  it('returns one Service per version, lists name+version pairs, and forgets deregistered services', async () => {
    const m = registry()
    for (const services of Object.values(testData)) {
      let count = 0
      for (const s of services) {
        await m.register(s)
        count++
        expect(await m.getService(s.name)).toHaveLength(count)
      }
    }
    for (const [name, services] of Object.entries(testData)) {
      const got = await m.getService(name)
      expect(got.map((s) => s.version).sort()).toEqual(services.map((s) => s.version).sort())
      for (const s of services) {
        const v = got.find((x) => x.version === s.version)
        expect(v?.nodes.map((n) => n.id).sort()).toEqual(s.nodes.map((n) => n.id).sort())
      }
    }
    const listed = await m.listServices()
    expect(listed).toHaveLength(5)
    expect(listed.map((s) => `${s.name}@${s.version}`).sort()).toEqual([
      'bar@default',
      'bar@latest',
      'foo@1.0.0',
      'foo@1.0.1',
      'foo@1.0.3',
    ])
    for (const services of Object.values(testData)) for (const s of services) await m.deregister(s)
    for (const name of Object.keys(testData)) await expectNotFound(m.getService(name))
    expect(await m.listServices()).toEqual([])
  })

  it('merges nodes registered separately into one Service per version', async () => {
    const m = registry()
    await m.register({ name: 'svc', version: '1', nodes: [{ id: 'a', address: '10.0.0.1:1' }] })
    await m.register({ name: 'svc', version: '1', nodes: [{ id: 'b', address: '10.0.0.2:1' }] })
    await m.register({ name: 'svc', version: '2', nodes: [{ id: 'c', address: '10.0.0.3:1' }] })
    const got = await m.getService('svc')
    expect(got).toHaveLength(2)
    expect(
      got
        .find((s) => s.version === '1')
        ?.nodes.map((n) => n.id)
        .sort(),
    ).toEqual(['a', 'b'])
    // Removing one node keeps the version; removing its last node removes it.
    await m.deregister({ name: 'svc', version: '1', nodes: [{ id: 'a', address: '' }] })
    expect((await m.getService('svc')).find((s) => s.version === '1')?.nodes.map((n) => n.id)).toEqual(['b'])
    await m.deregister({ name: 'svc', version: '1', nodes: [{ id: 'b', address: '' }] })
    expect((await m.getService('svc')).map((s) => s.version)).toEqual(['2'])
  })

  it('re-registering a node replaces its record', async () => {
    const m = registry()
    await m.register({
      name: 's',
      version: '1',
      nodes: [{ id: 'n', address: '1.1.1.1:1', metadata: { a: '1' } }],
    })
    await m.register({
      name: 's',
      version: '1',
      endpoints: [{ name: 'S.Call' }],
      nodes: [{ id: 'n', address: '2.2.2.2:2', metadata: { a: '2' } }],
    })
    const [s] = await m.getService('s')
    expect(s.nodes).toEqual([{ id: 'n', address: '2.2.2.2:2', metadata: { a: '2' } }])
    expect(s.endpoints).toEqual([{ name: 'S.Call' }])
  })

  it('copies records in and out', async () => {
    const m = registry()
    const input: Service = {
      name: 'copy',
      version: '1',
      metadata: { k: 'v' },
      endpoints: [
        { name: 'E.M', request: { name: 'Req', type: 'Req', values: [{ name: 'x', type: 'string' }] } },
      ],
      nodes: [{ id: 'n1', address: '127.0.0.1:1', metadata: { m: '1' } }],
    }
    await m.register(input)
    input.nodes[0].address = 'mutated'
    input.nodes.push({ id: 'n2', address: 'x' })
    input.metadata!.k = 'mutated'
    input.endpoints![0].request!.values![0].name = 'mutated'
    const [out] = await m.getService('copy')
    expect(out.nodes).toEqual([{ id: 'n1', address: '127.0.0.1:1', metadata: { m: '1' } }])
    expect(out.metadata).toEqual({ k: 'v' })
    expect(out.endpoints![0].request!.values![0].name).toBe('x')
    out.nodes[0].metadata!.m = 'mutated'
    out.nodes.length = 0
    const [again] = await m.getService('copy')
    expect(again.nodes).toEqual([{ id: 'n1', address: '127.0.0.1:1', metadata: { m: '1' } }])
  })

  it('rejects malformed records with a 400 and keeps running', async () => {
    const m = registry()
    for (const bad of [
      null,
      {},
      { name: '', version: '1', nodes: [] },
      { name: 'x', version: 1, nodes: [] },
      { name: 'x', version: '1', nodes: [{ id: '', address: 'a:1' }] },
      { name: 'x', version: '1', nodes: [{ id: 'n', address: 5 }] },
      { name: 'x', version: '1', nodes: [{ id: 'n', address: 'a:1', metadata: { k: 1 } }] },
      { name: 'x', version: '1', nodes: 'nope' },
    ]) {
      const err = await m.register(bad as unknown as Service).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(MicroError)
      expect((err as MicroError).code).toBe(400)
    }
    await expectNotFound(m.getService('x'))
    await expectNotFound(m.getService(undefined as unknown as string))
  })

  it('TTL: nodes not refreshed are pruned, and then the service is gone (go-micro keeps an empty service; etcd and consul drop it)', async () => {
    const m = registry()
    for (const services of Object.values(testData)) for (const s of services) await m.register(s, { ttl: 30 })
    const w = m.watch()
    await delay(150)
    for (const name of Object.keys(testData)) await expectNotFound(m.getService(name))
    expect(await m.listServices()).toEqual([])
    // The prune announced each lost node as a delete.
    const events = await take(w, 5)
    expect(events.every((e) => e.action === 'delete')).toBe(true)
    expect(events.flatMap((e) => e.service.nodes.map((n) => n.id)).sort()).toEqual(
      Object.values(testData)
        .flat()
        .flatMap((s) => s.nodes.map((n) => n.id))
        .sort(),
    )
  })

  it('TTL: re-registering refreshes the lease', async () => {
    const m = registry()
    const s: Service = { name: 'lease', version: '1', nodes: [{ id: 'n', address: '127.0.0.1:1' }] }
    await m.register(s, { ttl: 300 })
    for (let i = 0; i < 5; i++) {
      await delay(50)
      await m.register(s, { ttl: 300 })
    }
    expect((await m.getService('lease'))[0].nodes).toHaveLength(1)
    await delay(450)
    await expectNotFound(m.getService('lease'))
  })

  it('an expired node is invisible even before the prune runs, and a node without ttl never expires', async () => {
    const m = registry()
    await m.register({ name: 'mix', version: '1', nodes: [{ id: 'short', address: 'a:1' }] }, { ttl: 1 })
    await m.register({ name: 'mix', version: '1', nodes: [{ id: 'forever', address: 'a:2' }] })
    await delay(20)
    expect((await m.getService('mix'))[0].nodes.map((n) => n.id)).toEqual(['forever'])
  })

  it('TTL with 1000 concurrent registrations and readers', async () => {
    const m = registry()
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        m.register(
          { name: 'many', version: '1', nodes: [{ id: `n${i}`, address: `127.0.0.1:${1000 + i}` }] },
          { ttl: 200 },
        ),
      ),
    )
    const [s] = await m.getService('many')
    expect(s.nodes).toHaveLength(1000)
    expect(new Set(s.nodes.map((n) => n.id)).size).toBe(1000)
    await delay(300)
    const results = await Promise.all(
      Array.from({ length: 1000 }, () =>
        m.getService('many').then(
          () => 'found',
          (e: MicroError) => e.code,
        ),
      ),
    )
    expect(results.every((r) => r === 404)).toBe(true)
  })

  describe('watch', () => {
    it('emits create, update and delete, filtered by service name', async () => {
      const m = registry()
      const all = m.watch()
      const onlyA = m.watch({ service: 'a' })
      await m.register({ name: 'a', version: '1', nodes: [{ id: 'a1', address: 'h:1' }] })
      await m.register({ name: 'b', version: '1', nodes: [{ id: 'b1', address: 'h:2' }] })
      await m.register({ name: 'a', version: '1', nodes: [{ id: 'a2', address: 'h:3' }] })
      await m.register({ name: 'a', version: '1', nodes: [{ id: 'a2', address: 'h:3' }] }) // refresh: no event
      await m.deregister({ name: 'a', version: '1', nodes: [{ id: 'a1', address: 'h:1' }] })
      const events = await take(onlyA, 3)
      expect(events.map((e) => e.action)).toEqual(['create', 'update', 'delete'])
      expect(events[1].service.nodes.map((n) => n.id).sort()).toEqual(['a1', 'a2'])
      expect(events[2].service.nodes.map((n) => n.id)).toEqual(['a1'])
      const everything = await take(all, 4)
      expect(everything.map((e) => `${e.action}:${e.service.name}`)).toEqual([
        'create:a',
        'create:b',
        'update:a',
        'delete:a',
      ])
    })

    it('ends on stop(), on abort, and on close()', async () => {
      const m = registry()
      const w1 = m.watch()
      const ac = new AbortController()
      const w2 = m.watch({ signal: ac.signal })
      const w3 = m.watch()
      const ended = (w: AsyncIterable<WatchEvent>) =>
        (async () => {
          for await (const _ of w) {
            // drain
          }
          return 'ended'
        })()
      const p1 = ended(w1)
      const p2 = ended(w2)
      const p3 = ended(w3)
      w1.stop()
      ac.abort()
      expect(await p1).toBe('ended')
      expect(await p2).toBe('ended')
      await m.close()
      expect(await p3).toBe('ended')
      // A watch on a closed registry ends at once.
      const late = await take(m.watch(), 1, 200)
      expect(late).toEqual([])
    })

    it('events are copies', async () => {
      const m = registry()
      const w = m.watch()
      await m.register({ name: 'c', version: '1', nodes: [{ id: 'n', address: 'h:1' }] })
      const [ev] = await take(w, 1)
      ev.service.nodes[0].address = 'mutated'
      expect((await m.getService('c'))[0].nodes[0].address).toBe('h:1')
    })
  })
})
