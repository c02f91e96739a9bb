/**
 * What every registry group shares: the resolved knobs, the per-test instances, and helpers to
 * register (deregistered after the test), look up (not found as `[]`) and wait for visibility.
 */
import type { Endpoint, Node, Registry, Service } from '@micro-ts/core'
import { type Harness, harness, has } from '../suite.js'
import { eventually, isMicroErrorShape } from '../util.js'
import type { RegistryCapability, RegistryConformanceSpec } from './index.js'

export interface RegistrySuite {
  spec: RegistryConformanceSpec
  has(capability: RegistryCapability): boolean
  h: Harness<Registry>
  ttl: number
  tolerance: number
  visibility: number
  quiet: number
  watchSettle: number
  concurrency: number
  endpointCount: number
  closeTimeout: number
  /** Register, and deregister after the test (errors there are ignored: the test may have done it). */
  register(registry: Registry, s: Service, options?: { ttl?: number }): Promise<void>
  /** getService, with not-found as an empty list. */
  lookup(registry: Registry, name: string): Promise<Service[]>
  /** Wait until `check` passes on what getService returns. */
  see(registry: Registry, name: string, check: (services: Service[]) => void): Promise<void>
  /** `name@version` of every listed service whose name starts with `prefix`, sorted. */
  listed(registry: Registry, prefix: string): Promise<string[]>
}

/** Must be called inside the suite's `describe` body (the harness registers an `afterEach`). */
export function registryContext(spec: RegistryConformanceSpec): RegistrySuite {
  const o = spec.options ?? {}
  const visibility = o.visibilityTimeout ?? 2_000
  const closeTimeout = o.closeTimeout ?? 10_000
  const h = harness('registry', spec, (r) => r.close(), closeTimeout)

  async function lookup(registry: Registry, name: string): Promise<Service[]> {
    try {
      return await registry.getService(name)
    } catch (e) {
      if (isMicroErrorShape(e) && e.code === 404) return []
      throw e
    }
  }

  return {
    spec,
    has: (capability) => has(spec, capability),
    h,
    ttl: o.ttl ?? 500,
    tolerance: o.expiryTolerance ?? 1_000,
    visibility,
    quiet: o.quietPeriod ?? 500,
    watchSettle: o.watchSettle ?? 0,
    concurrency: o.concurrency ?? 100,
    endpointCount: o.endpointCount ?? 200,
    closeTimeout,
    async register(registry, s, options) {
      await registry.register(s, options)
      h.defer(`deregister ${s.name}`, () => registry.deregister(s).catch(() => {}))
    },
    lookup,
    see: (registry, name, check) => eventually(async () => check(await lookup(registry, name)), visibility),
    async listed(registry, prefix) {
      return (await registry.listServices())
        .filter((s) => s.name.startsWith(prefix))
        .map((s) => `${s.name}@${s.version}`)
        .sort()
    },
  }
}

let port = 10_000

/** A node with a fresh loopback port. */
export function node(id: string, metadata?: Record<string, string>): Node {
  port = port >= 60_000 ? 10_000 : port + 1
  const n: Node = { id, address: `127.0.0.1:${port}` }
  if (metadata) n.metadata = metadata
  return n
}

export function service(
  name: string,
  nodes: Node[],
  version = '1.0.0',
  extra: Partial<Service> = {},
): Service {
  return { name, version, nodes, ...extra }
}

/** The sorted node ids of a service. */
export function ids(s: Service | undefined): string[] {
  return (s?.nodes ?? []).map((n) => n.id).sort()
}

export function byVersion(services: Service[]): Service[] {
  return [...services].sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0))
}

/** A tree of request/response types three levels deep, as go-micro describes endpoint arguments. */
export function valueTree(label: string): Endpoint['request'] {
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
