/**
 * The Consul registry in go-micro v5's layout (registry/consul), so Go and TypeScript services
 * find each other through one Consul: every node is a service instance on the agent, with its
 * version, endpoints and metadata in go-micro's tags and a TTL check the owner keeps passing.
 */
import { createHash } from 'node:crypto'
import {
  type Logger,
  type Node,
  type RegisterOptions,
  type Registry,
  type Service,
  silentLogger,
  type WatchEvent,
  type Watcher,
  type WatchOptions,
} from '@micro-ts/core'
import { KeyedLock, serviceNotFound, validateService, WatchQueue } from '@micro-ts/core/plugin'
import { Agents, type ReadOptions } from './agents.js'
import { type ConsulRegistryOptions, errors, type ResolvedConsulOptions, resolveOptions } from './options.js'
import { registration, servicesFromEntries, versionsFromTags } from './records.js'
import { CatalogWatch, ServiceWatch, type WatchSettings } from './watch.js'

/** A node this registry registered: what was sent, and on which agent (its TTL check lives there). */
interface NodeEntry {
  readonly hash: string
  readonly ttl: number
  readonly agent: number
}

export class ConsulRegistry implements Registry {
  readonly name = 'consul'
  private readonly options: ResolvedConsulOptions
  private readonly agents: Agents
  private readonly logger: Logger
  private readonly read: ReadOptions
  private readonly nodes = new Map<string, NodeEntry>()
  /** Per-node chains: a register and a deregister of one node never interleave. */
  private readonly locks = new KeyedLock()
  private readonly watchers = new Set<WatchQueue>()
  private closed = false

  constructor(options: ConsulRegistryOptions = {}, env?: Readonly<Record<string, string | undefined>>) {
    this.options = resolveOptions(options, env)
    this.logger = (options.logger ?? silentLogger).child({ registry: 'consul' })
    const o = this.options
    this.agents = new Agents({
      addresses: o.addresses,
      token: o.token,
      tls: o.tls,
      connectTimeout: o.connectTimeout,
      timeout: o.timeout,
      errors,
    })
    this.read = {
      ...(o.datacenter ? { dc: o.datacenter } : {}),
      ...(o.consistency === 'stale' ? { stale: true } : {}),
      ...(o.consistency === 'consistent' ? { consistent: true } : {}),
    }
  }

  /** The agents in use, `host:port`, in the order they are tried. */
  get addresses(): readonly string[] {
    return this.options.addresses.map((a) => a.label)
  }

  async register(service: Service, options: RegisterOptions = {}): Promise<void> {
    this.assertOpen('register')
    checkService(service, 'register')
    const ttl = options.ttl ?? 0
    if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0) {
      throw errors.badRequest(
        `register: ttl must be a non-negative number of milliseconds, got ${String(ttl)}`,
      )
    }
    await settle(service.nodes.map((n) => this.registerNode(service, n, ttl)))
  }

  async deregister(service: Service): Promise<void> {
    this.assertOpen('deregister')
    checkService(service, 'deregister')
    await settle(
      service.nodes.map((n) =>
        this.locked(n.id, async () => {
          const entry = this.nodes.get(n.id)
          this.nodes.delete(n.id)
          try {
            await this.agents.deregister(n.id, entry?.agent)
          } catch (err) {
            // Not on that agent (never registered, or already reaped): nothing to remove.
            if ((err as { code?: number }).code !== 404) throw err
          }
        }),
      ),
    )
  }

  async getService(name: string): Promise<Service[]> {
    this.assertOpen('getService')
    if (typeof name !== 'string' || name === '') throw serviceNotFound()
    const a = await this.agents.health('getService', name, this.read)
    const services = servicesFromEntries(name, a.body)
    if (services.length === 0) {
      // Anonymous reads of a deny-by-default agent answer 200 and empty: say why, not "not found".
      const hidden = a.filteredByAcl || (a.aclPolicy === 'deny' && !this.agents.tokenGiven)
      if (hidden) {
        throw errors.forbidden(
          `getService: the Consul agent at ${this.agents.label(a.agent)} hides ${JSON.stringify(name)} from ${this.agents.tokenGiven ? 'this token' : 'anonymous reads (ACL default policy deny) and no token was given'}; give a token with service:read (option token or CONSUL_HTTP_TOKEN)`,
        )
      }
      throw serviceNotFound()
    }
    return services
  }

  /** One entry per name and version (from the versions in the catalog's tags), without nodes. */
  async listServices(): Promise<Service[]> {
    this.assertOpen('listServices')
    const a = await this.agents.services('listServices', this.read)
    const out: Service[] = []
    for (const [name, tags] of Object.entries(a.body)) {
      for (const version of versionsFromTags(tags)) out.push({ name, version, nodes: [] })
    }
    return out.sort((x, y) =>
      x.name === y.name ? x.version.localeCompare(y.version) : x.name.localeCompare(y.name),
    )
  }

  watch(options: WatchOptions = {}): Watcher {
    this.assertOpen('watch')
    const service = options.service
    if (service !== undefined && (typeof service !== 'string' || service === '')) {
      throw errors.badRequest('watch: service must be a non-empty string')
    }
    const settings: WatchSettings = {
      read: this.read,
      wait: this.options.watchWait,
      resyncGrace: this.options.resyncGrace,
      logger: this.logger,
    }
    let loop: ServiceWatch | CatalogWatch | undefined
    const queue: WatchQueue = new WatchQueue({
      signal: options.signal,
      onStop: () => {
        loop?.stop()
        this.watchers.delete(queue)
      },
    })
    if (queue.stopped) return queue
    const emit = (event: WatchEvent) => queue.push(event)
    loop = service
      ? new ServiceWatch(this.agents, settings, service, emit)
      : new CatalogWatch(this.agents, settings, emit)
    this.watchers.add(queue)
    return queue
  }

  /** Resolves when an agent answers and its cluster has a leader (what /health/ready asks); else a 503. */
  async ping(signal?: AbortSignal): Promise<void> {
    this.assertOpen('ping')
    const { body, agent } = await this.agents.leader(signal)
    if (typeof body !== 'string' || body === '') {
      throw errors.unavailable(`ping: the Consul agent at ${this.agents.label(agent)} knows no leader`)
    }
  }

  /**
   * Ends every watcher and closes the connections. Nodes are left registered: those with a TTL
   * go critical when it runs out and Consul removes them after `max(TTL, 1m) + 5s`.
   */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const w of [...this.watchers]) w.stop()
    await this.locks.idle()
    this.agents.close()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /**
   * go-micro's `Register`: an unchanged node registered again only passes its TTL check (or,
   * without a TTL, is checked to be still on its agent); anything else, including a failed pass
   * (the agent restarted empty, or another agent answers now), registers the node in full.
   */
  private registerNode(service: Service, node: Node, ttl: number): Promise<void> {
    const body = registration(service, node, ttl)
    const hash = createHash('sha256').update(JSON.stringify(body)).digest('hex')
    return this.locked(node.id, async () => {
      const current = this.nodes.get(node.id)
      if (current && current.hash === hash && (await this.stillThere(node.id, current))) return
      const a = await this.agents.register(body, current?.agent)
      if (current && current.agent !== a.agent) {
        this.logger.info(
          { node: node.id, agent: this.agents.label(a.agent) },
          'consul registry: node registered on another agent',
        )
      }
      this.nodes.set(node.id, { hash, ttl, agent: a.agent })
    })
  }

  private async stillThere(id: string, entry: NodeEntry): Promise<boolean> {
    try {
      if (entry.ttl > 0) {
        await this.agents.passTtl(id, entry.agent)
        return true
      }
      return (await this.agents.agentServiceIds(entry.agent)).has(id)
    } catch (err) {
      this.logger.debug(
        { node: id, err: (err as Error).message },
        'consul registry: refreshing the node failed; registering it again',
      )
      return false
    }
  }

  private locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(key, fn)
  }

  private assertOpen(op: string): void {
    if (this.closed) throw errors.unavailable(`${op}: the registry is closed`)
  }
}

/** Wait for all; throw the first failure once every one has settled. */
async function settle(work: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(work)
  const failed = results.find((r) => r.status === 'rejected')
  if (failed) throw (failed as PromiseRejectedResult).reason
}

/** core's record checks, plus go-micro's "require at least one node". */
function checkService(service: Service, op: string): void {
  try {
    validateService(service, errors.id)
  } catch (err) {
    throw errors.badRequest(`${op}: ${(err as Error & { detail?: string }).detail ?? (err as Error).message}`)
  }
  if (!Array.isArray(service.nodes) || service.nodes.length === 0) {
    throw errors.badRequest(`${op}: service ${JSON.stringify(service.name)} needs at least one node`)
  }
}

/** Create a Consul registry; see {@link ConsulRegistryOptions}. Nothing connects until the first call. */
export function createConsulRegistry(
  options: ConsulRegistryOptions = {},
  env?: Readonly<Record<string, string | undefined>>,
): ConsulRegistry {
  return new ConsulRegistry(options, env)
}
