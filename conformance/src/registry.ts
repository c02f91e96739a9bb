/**
 * The registry suite: go-micro's registry tests (registry/memory_test.go, mdns_test.go: one
 * Service per version, list, deregister, TTL pruning, watch create/delete) plus exact round-trips
 * of go-micro's JSON records, awkward names, concurrency and large services.
 */
import type { Endpoint, Node, Registry, Service, WatchEvent, Watcher } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import { defineSuite, harness, has } from './suite.js'
import type { CommonOptions, SuiteSpec } from './types.js'
import { eventually, expectMicroError, Inbox, isMicroErrorShape, sleep, uniqueName } from './util.js'

/**
 * - `ttl`: a node registered with `{ttl}` disappears when not refreshed in time, and a refresh
 *   (registering again) keeps it. Absent: the TTL is ignored and the node stays.
 * - `watch`: `watch()` yields create/update/delete events and ends on `stop()`, on abort and
 *   on `close()`. Absent: `watch()` throws, or its iteration rejects, rather than waiting
 *   forever on events that never come.
 * - `shared`: instances from `create()` see each other's registrations (a real backend, or
 *   mDNS on one network). Absent: each instance sees only its own.
 * - `serviceMetadata`: the service-level `metadata` map round-trips. go-micro's mDNS (and
 *   Consul) records carry only node metadata, so it is optional. Absent: services come back
 *   without service metadata. Node metadata, endpoints and their metadata must always round-trip.
 */
export type RegistryCapability = 'ttl' | 'watch' | 'shared' | 'serviceMetadata'
export const REGISTRY_CAPABILITIES: readonly RegistryCapability[] = [
  'ttl',
  'watch',
  'shared',
  'serviceMetadata',
]

export interface RegistryConformanceOptions extends CommonOptions {
  /** The TTL the TTL cases register with, ms (default 500; etcd leases need >= 2 000). */
  ttl?: number
  /** How long after its TTL a node may still be listed, ms (default 1 000). */
  expiryTolerance?: number
  /** How long a (de)registration may take to become visible, to this or another instance, ms (default 2 000). */
  visibilityTimeout?: number
  /** How long the suite waits to be sure that something does not appear, ms (default 500). */
  quietPeriod?: number
  /** Pause after `watch()` before the first change, for watches that start asynchronously, ms (default 0). */
  watchSettle?: number
  /** Registrations in the concurrency case (default 100). */
  concurrency?: number
  /** Endpoints in the large-service case (default 200). */
  endpointCount?: number
}

export type RegistryConformanceSpec = SuiteSpec<Registry, RegistryCapability, RegistryConformanceOptions>

/** Register the registry conformance suite for one registry implementation. */
export function registryConformance(spec: RegistryConformanceSpec): void {
  defineSuite('registry', spec, REGISTRY_CAPABILITIES, () => registrySuite(spec))
}

let port = 10_000

function node(id: string, metadata?: Record<string, string>): Node {
  port = port >= 60_000 ? 10_000 : port + 1
  const n: Node = { id, address: `127.0.0.1:${port}` }
  if (metadata) n.metadata = metadata
  return n
}

function service(name: string, nodes: Node[], version = '1.0.0', extra: Partial<Service> = {}): Service {
  return { name, version, nodes, ...extra }
}

function ids(s: Service | undefined): string[] {
  return (s?.nodes ?? []).map((n) => n.id).sort()
}

function byVersion(services: Service[]): Service[] {
  return [...services].sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0))
}

/** A tree of request/response types three levels deep, as go-micro describes endpoint arguments. */
function valueTree(label: string): Endpoint['request'] {
  return {
    name: `${label}Request`,
    type: `${label}Request`,
    values: [
      { name: 'name', type: 'string' },
      { name: 'count', type: 'int64' },
      {
        name: 'address',
        type: 'Address',
        values: [
          { name: 'street', type: 'string' },
          { name: 'tags', type: '[]string' },
          { name: 'geo', type: 'Geo', values: [{ name: 'lat', type: 'float64' }] },
        ],
      },
    ],
  }
}

function registrySuite(spec: RegistryConformanceSpec): void {
  const o = spec.options ?? {}
  const ttl = o.ttl ?? 500
  const tolerance = o.expiryTolerance ?? 1_000
  const visibility = o.visibilityTimeout ?? 2_000
  const quiet = o.quietPeriod ?? 500
  const watchSettle = o.watchSettle ?? 0
  const concurrency = o.concurrency ?? 100
  const endpointCount = o.endpointCount ?? 200
  const closeTimeout = o.closeTimeout ?? 10_000
  const h = harness('registry', spec, (r) => r.close(), closeTimeout)

  /** Register, and deregister after the test (errors there are ignored: the test may have done it). */
  async function register(registry: Registry, s: Service, options?: { ttl?: number }): Promise<void> {
    await registry.register(s, options)
    h.defer(`deregister ${s.name}`, () => registry.deregister(s).catch(() => {}))
  }

  /** getService, with not-found as an empty list. */
  async function lookup(registry: Registry, name: string): Promise<Service[]> {
    try {
      return await registry.getService(name)
    } catch (e) {
      if (isMicroErrorShape(e) && e.code === 404) return []
      throw e
    }
  }

  /** Wait until `check` passes on what getService returns. */
  function see(registry: Registry, name: string, check: (services: Service[]) => void): Promise<void> {
    return eventually(async () => check(await lookup(registry, name)), visibility)
  }

  async function listed(registry: Registry, prefix: string): Promise<string[]> {
    return (await registry.listServices())
      .filter((s) => s.name.startsWith(prefix))
      .map((s) => `${s.name}@${s.version}`)
      .sort()
  }

  describe('register and look up', () => {
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
        visibility,
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
            registry: spec.name,
            'quote"s': `it's`,
            unicode: 'ünï 日本',
          }),
        ],
      }
      await register(registry, s)
      await see(registry, name, (services) => expect(services).toEqual([s]))
    })

    if (has(spec, 'serviceMetadata')) {
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

    it('service names with /, ., :, _, - and unicode are kept exactly', async () => {
      const registry = await h.fresh()
      const base = uniqueName('names')
      const names = [
        `${base}/api/v1`,
        `${base}.greeter.service`,
        `${base}:8080`,
        `${base}_under-dash`,
        `${base}-ünïcödé-日本`,
      ]
      for (const [i, name] of names.entries())
        await register(registry, service(name, [node(`${base}-node-${i}`)]))
      for (const [i, name] of names.entries()) {
        await see(registry, name, (services) => {
          expect(services.map((s) => s.name)).toEqual([name])
          expect(ids(services[0])).toEqual([`${base}-node-${i}`])
        })
      }
      await eventually(
        async () => expect(await listed(registry, base)).toEqual(names.map((n) => `${n}@1.0.0`).sort()),
        visibility,
      )
    })

    it(`${concurrency} concurrent registrations of one service all land`, async () => {
      const registry = await h.fresh()
      const name = uniqueName('concurrent')
      const nodes = Array.from({ length: concurrency }, (_, i) =>
        node(`${name}-${String(i).padStart(4, '0')}`),
      )
      await Promise.all(nodes.map((n) => register(registry, service(name, [n]))))
      await see(registry, name, (services) => {
        expect(services).toHaveLength(1)
        expect(ids(services[0])).toEqual(nodes.map((n) => n.id))
      })
    })

    it(`a service with ${endpointCount} endpoints round-trips`, async () => {
      const registry = await h.fresh()
      const name = uniqueName('big')
      const endpoints: Endpoint[] = Array.from({ length: endpointCount }, (_, i) => ({
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
      await eventually(() => expectMicroError(registry.getService(name), 404), visibility)
      await eventually(async () => expect(await listed(registry, name)).toEqual([]), visibility)
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
  })

  describe('ttl', () => {
    if (!has(spec, 'ttl')) {
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

  describe('watch', () => {
    /** Run a watcher in the background, collecting its events until it ends. */
    function follow(watcher: Watcher): {
      events: Inbox<WatchEvent>
      ended: Promise<void>
      failed: () => unknown
    } {
      const events = new Inbox<WatchEvent>()
      let failure: unknown
      const ended = (async () => {
        try {
          for await (const event of watcher) events.push(event)
        } catch (e) {
          failure = e
        }
      })()
      h.defer('stop watcher', () => watcher.stop())
      return { events, ended, failed: () => failure }
    }

    async function ends(p: Promise<void>, what: string): Promise<void> {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what}: the watch iteration did not end within ${closeTimeout} ms`)),
          closeTimeout,
        )
      })
      try {
        await Promise.race([p, timeout])
      } finally {
        clearTimeout(timer)
      }
    }

    function hasEvent(
      events: Inbox<WatchEvent>,
      match: (e: WatchEvent) => boolean,
      what: string,
    ): Promise<WatchEvent> {
      return eventually(() => {
        const found = events.items.find(match)
        if (!found) {
          const seen = events.items.map((e) => `${e.action} ${e.service.name} [${ids(e.service)}]`)
          throw new Error(`no ${what} event yet; seen: ${seen.join('; ') || 'none'}`)
        }
        return found
      }, visibility)
    }

    if (!has(spec, 'watch')) {
      it('watch is not declared: watch() throws or its iteration rejects', async () => {
        const registry = await h.fresh()
        let watcher: Watcher
        try {
          watcher = registry.watch()
        } catch {
          return
        }
        h.defer('stop watcher', () => watcher.stop())
        const next = watcher[Symbol.asyncIterator]().next()
        const outcome = await Promise.race([
          next.then(
            () => 'yielded',
            () => 'rejected',
          ),
          sleep(Math.max(quiet, 1_000)).then(() => 'pending'),
        ])
        expect(outcome, 'a registry without watch must reject instead of waiting forever').toBe('rejected')
      })
      return
    }

    it('watch({service}) gives create, update and delete events for that service only', async () => {
      const registry = await h.fresh()
      const name = uniqueName('watched')
      const other = uniqueName('unwatched')
      const { events } = follow(registry.watch({ service: name }))
      if (watchSettle) await sleep(watchSettle)
      const n1 = node(`${name}-1`)
      await register(registry, service(other, [node(`${other}-1`)]))
      await register(registry, service(name, [n1]))
      const created = await hasEvent(
        events,
        (e) => e.action === 'create' && ids(e.service).includes(n1.id),
        'create',
      )
      expect(created.service.name).toBe(name)
      expect(created.service.version).toBe('1.0.0')

      const n2 = node(`${name}-2`, { v: '1' })
      await register(registry, service(name, [n2]))
      await hasEvent(
        events,
        (e) => e.action !== 'delete' && ids(e.service).includes(n2.id),
        'create or update for a second node',
      )

      const n2b = { ...n2, metadata: { v: '2' } }
      await register(registry, service(name, [n2b]))
      await hasEvent(
        events,
        (e) => e.action === 'update' && e.service.nodes.some((n) => n.id === n2.id && n.metadata?.v === '2'),
        'update (node re-registered with new metadata)',
      )

      await registry.deregister(service(name, [n1]))
      const deleted = await hasEvent(
        events,
        (e) => e.action === 'delete' && ids(e.service).includes(n1.id),
        'delete',
      )
      expect(deleted.service.name).toBe(name)
      await sleep(quiet)
      expect(events.items.filter((e) => e.service.name !== name).map((e) => e.service.name)).toEqual([])
      const createIndex = events.items.indexOf(created)
      expect(events.items.indexOf(deleted)).toBeGreaterThan(createIndex)
    })

    it('watch() without a service sees every service', async () => {
      const registry = await h.fresh()
      const a = uniqueName('watch-all-a')
      const b = uniqueName('watch-all-b')
      const { events } = follow(registry.watch())
      if (watchSettle) await sleep(watchSettle)
      await register(registry, service(a, [node(`${a}-1`)]))
      await register(registry, service(b, [node(`${b}-1`)]))
      await hasEvent(events, (e) => e.action === 'create' && e.service.name === a, `create ${a}`)
      await hasEvent(events, (e) => e.action === 'create' && e.service.name === b, `create ${b}`)
    })

    it('stop() ends the iteration', async () => {
      const registry = await h.fresh()
      const watcher = registry.watch()
      const { ended, failed } = follow(watcher)
      if (watchSettle) await sleep(watchSettle)
      watcher.stop()
      await ends(ended, 'stop()')
      expect(failed()).toBeUndefined()
    })

    it('aborting the signal ends the iteration', async () => {
      const registry = await h.fresh()
      const abort = new AbortController()
      const { ended } = follow(registry.watch({ signal: abort.signal }))
      if (watchSettle) await sleep(watchSettle)
      abort.abort()
      await ends(ended, 'abort')
    })

    it('close() ends every watcher', async () => {
      const registry = await h.fresh()
      const one = follow(registry.watch())
      const two = follow(registry.watch({ service: uniqueName('closing') }))
      if (watchSettle) await sleep(watchSettle)
      await h.close(registry)
      await ends(one.ended, 'close(), first watcher')
      await ends(two.ended, 'close(), second watcher')
    })

    if (has(spec, 'ttl')) {
      it('a node whose TTL runs out shows up as a delete event', async () => {
        const registry = await h.fresh()
        const name = uniqueName('watch-ttl')
        const { events } = follow(registry.watch({ service: name }))
        if (watchSettle) await sleep(watchSettle)
        await register(registry, service(name, [node(`${name}-1`)]), { ttl })
        await hasEvent(events, (e) => e.action === 'create', 'create')
        await sleep(ttl)
        await eventually(
          () =>
            hasEvent(events, (e) => e.action === 'delete' && ids(e.service).includes(`${name}-1`), 'delete'),
          tolerance,
        )
      })
    }
  })

  describe('shared', () => {
    if (!has(spec, 'shared')) {
      it('shared is not declared: instances do not see each other’s registrations', async () => {
        const a = await h.fresh()
        const b = await h.fresh()
        const name = uniqueName('not-shared')
        await register(a, service(name, [node(`${name}-1`)]))
        await see(a, name, (services) => expect(services).toHaveLength(1))
        await sleep(quiet)
        expect(await lookup(b, name)).toEqual([])
      })
      return
    }

    it('a registration on one instance is seen by another, and so is its deregistration', async () => {
      const a = await h.fresh()
      const b = await h.fresh()
      const name = uniqueName('shared')
      const s = service(name, [node(`${name}-1`, { from: 'a' })], '1.0.0', {
        endpoints: [{ name: 'Shared.Call', metadata: { k: 'v' } }],
      })
      await register(a, s)
      await see(b, name, (services) => expect(services).toEqual([s]))
      await eventually(async () => expect(await listed(b, name)).toEqual([`${name}@1.0.0`]), visibility)
      await a.deregister(s)
      await eventually(() => expectMicroError(b.getService(name), 404), visibility)
    })

    it('two instances registering nodes of one service both see the merged service', async () => {
      const a = await h.fresh()
      const b = await h.fresh()
      const name = uniqueName('shared-merge')
      await register(a, service(name, [node(`${name}-a`)]))
      await register(b, service(name, [node(`${name}-b`)]))
      for (const r of [a, b])
        await see(r, name, (services) => expect(ids(services[0])).toEqual([`${name}-a`, `${name}-b`]))
    })

    if (has(spec, 'watch')) {
      it("a watcher on one instance sees another instance's create and delete", async () => {
        const a = await h.fresh()
        const b = await h.fresh()
        const name = uniqueName('shared-watch')
        const watcher = b.watch({ service: name })
        const events = new Inbox<WatchEvent>()
        void (async () => {
          try {
            for await (const e of watcher) events.push(e)
          } catch {
            // ended by close
          }
        })()
        h.defer('stop watcher', () => watcher.stop())
        if (watchSettle) await sleep(watchSettle)
        const s = service(name, [node(`${name}-1`)])
        await register(a, s)
        await eventually(() => expect(events.items.some((e) => e.action === 'create')).toBe(true), visibility)
        await a.deregister(s)
        await eventually(() => expect(events.items.some((e) => e.action === 'delete')).toBe(true), visibility)
      })
    }
  })
}
