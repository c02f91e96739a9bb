/**
 * A read-through cache in front of a Registry (go-micro's registry/cache): getService answers from
 * memory for `ttl`, one watch on the registry keeps cached entries current in between (create and
 * update add or replace nodes, delete removes them), concurrent misses for one name share a single
 * lookup, and when the registry fails the last known entry is served instead of the error. A
 * not-found answer is never hidden: it drops the entry and is thrown. Nodes whose address can
 * never be dialled (records written by anyone, Go services included) are left out, with one
 * warning per node, so a selector never picks them.
 */
import { type Logger, silentLogger } from '../logger.js'
import { isDialable } from '../util/address.js'
import { backoff } from '../util/backoff.js'
import { sleep } from '../util/time.js'
import type { Node, RegisterOptions, Registry, Service, WatchEvent, Watcher, WatchOptions } from './types.js'
import { copyService, copyServices, isNotFound, removeNodes, upsertNodes } from './util.js'

/** A registry cache's figures at one moment. */
export interface CacheStats {
  /** Service names cached. */
  services: number
  /** Nodes of every cached service version. */
  nodes: number
  /** Times the watch was started again after it ended or failed. */
  watchRestarts: number
}

export interface CacheOptions {
  /** How long a looked-up entry is served without asking the registry again, in ms (default 60 000; 0: always ask). */
  ttl?: number
  /** After a failed lookup, how long the stale entry is served before the registry is asked again, in ms (default 5 000). */
  retryInterval?: number
  /** Keep entries current from the registry's watch (default true). */
  watch?: boolean
  /** Most service names kept (default 1024); past it the oldest entry goes. */
  maxEntries?: number
  logger?: Logger
}

interface CacheEntry {
  services: Service[]
  /** Epoch ms until which the entry is fresh. */
  freshUntil: number
  /** When the last lookup for the entry failed (stale entries are served for a while after). */
  failedAt?: number
}

interface Inflight {
  promise: Promise<Service[]>
  /** Watch events that arrived during the lookup, replayed on its result. */
  events: WatchEvent[]
}

/** Wait before restarting a watch that ended or failed: 200 ms, doubling, at most 30 s. */
const WATCH_RETRY = backoff({ base: 200, max: 30_000 })

export class RegistryCache implements Registry {
  readonly name: string
  readonly registry: Registry
  private readonly ttl: number
  private readonly retryInterval: number
  private readonly useWatch: boolean
  private readonly maxEntries: number
  private readonly logger: Logger
  private readonly entries = new Map<string, CacheEntry>()
  private readonly inflight = new Map<string, Inflight>()
  private readonly abort = new AbortController()
  private watching = false
  private closed = false
  /** Times the watch was started again after it ended or failed (a metric). */
  private watchRestarts = 0
  /** `service\0id\0address` of the bad nodes already warned about. */
  private readonly warned = new Set<string>()

  constructor(registry: Registry, options: CacheOptions = {}) {
    this.registry = registry
    this.name = registry.name
    this.ttl = Math.max(0, options.ttl ?? 60_000)
    this.retryInterval = Math.max(0, options.retryInterval ?? 5_000)
    this.useWatch = options.watch ?? true
    this.maxEntries = Math.max(1, options.maxEntries ?? 1024)
    this.logger = options.logger ?? silentLogger
  }

  async getService(name: string): Promise<Service[]> {
    return copyServices(await this.cached(name))
  }

  /**
   * getService without the copy: the cache's own records, for readers on the hot path (the
   * selector) that promise not to modify them. The cache replaces records rather than editing
   * them, so what a reader holds stays consistent.
   */
  cached(name: string): Promise<readonly Service[]> {
    return Promise.resolve(this.peek(name) ?? this.refresh(name))
  }

  /** The cached records for `name` if they may be served now, without waiting: see cached(). */
  peek(name: string): readonly Service[] | undefined {
    const now = Date.now()
    const entry = this.entries.get(name)
    if (entry && entry.freshUntil > now) return entry.services
    // The registry failed a moment ago: serve what we have rather than hammer it.
    if (entry?.failedAt !== undefined && now - entry.failedAt < this.retryInterval) return entry.services
    return undefined
  }

  private refresh(name: string): Promise<readonly Service[]> {
    if (!this.closed && this.useWatch && this.ttl > 0) this.startWatch()
    return this.lookup(name)
  }

  /** What the cache holds now, for metrics: services, their nodes, and watch restarts so far. */
  stats(): CacheStats {
    let nodes = 0
    for (const e of this.entries.values()) for (const s of e.services) nodes += s.nodes?.length ?? 0
    return { services: this.entries.size, nodes, watchRestarts: this.watchRestarts }
  }

  /** Drop what is cached for `name`, so the next getService asks the registry. */
  invalidate(name: string): void {
    this.entries.delete(name)
  }

  register(service: Service, options?: RegisterOptions): Promise<void> {
    return this.registry.register(service, options)
  }

  deregister(service: Service): Promise<void> {
    return this.registry.deregister(service)
  }

  listServices(): Promise<Service[]> {
    return this.registry.listServices()
  }

  watch(options?: WatchOptions): Watcher {
    return this.registry.watch(options)
  }

  /** Stop the cache's watch and forget every entry. The wrapped registry stays open. */
  async close(): Promise<void> {
    this.closed = true
    this.abort.abort()
    this.entries.clear()
  }

  private lookup(name: string): Promise<Service[]> {
    const running = this.inflight.get(name)
    if (running) return running.promise
    const flight: Inflight = { promise: undefined as unknown as Promise<Service[]>, events: [] }
    flight.promise = (async () => {
      try {
        let services: Service[]
        try {
          services = await this.registry.getService(name)
        } catch (err) {
          if (isNotFound(err)) {
            this.entries.delete(name)
            throw err
          }
          const stale = this.entries.get(name)
          if (!stale || stale.services.length === 0) throw err
          stale.failedAt = Date.now()
          this.logger.warn(
            { err, service: name },
            'registry cache: lookup failed, serving the last known nodes',
          )
          return stale.services
        }
        const entry: CacheEntry = {
          services: copyServices(services.map((s) => this.dialable(s))).map(freeze),
          freshUntil: Date.now() + this.ttl,
        }
        if (this.closed || this.ttl === 0) return entry.services
        this.entries.delete(name)
        this.entries.set(name, entry)
        if (this.entries.size > this.maxEntries)
          this.entries.delete(this.entries.keys().next().value as string)
        // Replay what changed while the lookup ran (no longer in flight, so nothing is queued again).
        this.inflight.delete(name)
        for (const ev of flight.events.splice(0)) this.apply(ev)
        return this.entries.get(name)?.services ?? []
      } finally {
        if (this.inflight.get(name) === flight) this.inflight.delete(name)
      }
    })()
    this.inflight.set(name, flight)
    return flight.promise
  }

  /** go-micro's cache `update`: merge created/updated nodes in, take deleted ones out. */
  private apply(ev: WatchEvent): void {
    if (!ev?.service || typeof ev.service.name !== 'string') return
    // A node taken out need not be dialable; one put in must be.
    const s = ev.action === 'delete' ? ev.service : this.dialable(ev.service)
    this.inflight.get(s.name)?.events.push(ev)
    const entry = this.entries.get(s.name)
    if (!entry) return
    const nodes = s.nodes ?? []
    if (nodes.length === 0) {
      if (ev.action === 'delete') this.entries.delete(s.name)
      return
    }
    const i = entry.services.findIndex((x) => x.version === (s.version ?? ''))
    if (ev.action === 'create' || ev.action === 'update') {
      if (i < 0) {
        entry.services.push(freeze(copyService(s)))
        return
      }
      const cur = entry.services[i]
      const next = copyService(s, upsertNodes(cur.nodes, nodes))
      if (!next.endpoints && cur.endpoints) next.endpoints = cur.endpoints
      if (!next.metadata && cur.metadata) next.metadata = cur.metadata
      entry.services[i] = freeze(next)
      return
    }
    if (ev.action !== 'delete' || i < 0) return
    const left = removeNodes(entry.services[i].nodes, nodes)
    if (left.length > 0) entry.services[i] = freeze({ ...entry.services[i], nodes: left })
    else entry.services.splice(i, 1)
    if (entry.services.length === 0) this.entries.delete(s.name)
  }

  /** `service` without the nodes no client could dial (the same object when all are fine). */
  private dialable(service: Service): Service {
    const nodes: unknown[] = Array.isArray(service.nodes) ? service.nodes : []
    const ok = (n: unknown): n is Node =>
      typeof n === 'object' &&
      n !== null &&
      typeof (n as Node).id === 'string' &&
      isDialable((n as Node).address)
    if (nodes.every(ok)) return service
    const kept: Node[] = []
    for (const n of nodes) {
      if (ok(n)) kept.push(n)
      else this.warnBadNode(service.name, n)
    }
    return { ...service, nodes: kept }
  }

  private warnBadNode(service: string, node: unknown): void {
    const { id, address } = (typeof node === 'object' && node !== null ? node : {}) as Partial<Node>
    const key = `${service}\u0000${String(id)}\u0000${String(address)}`
    if (this.warned.has(key)) return
    // Bounded: a registry full of garbage must not grow this without end.
    if (this.warned.size >= 10_000) this.warned.clear()
    this.warned.add(key)
    this.logger.warn(
      { service, node: id ?? null, address: address ?? null },
      `registry: node ${String(id)} of ${service} has an address no client can dial (${JSON.stringify(address)}): skipped`,
    )
  }

  private startWatch(): void {
    if (this.watching) return
    this.watching = true
    void this.runWatch()
  }

  /** One watch for every cached name, restarted with backoff when it ends or fails. */
  private async runWatch(): Promise<void> {
    let attempt = 0
    while (!this.closed) {
      try {
        const watcher = this.registry.watch({ signal: this.abort.signal })
        for await (const ev of watcher) {
          attempt = 0
          this.apply(ev)
        }
      } catch (err) {
        this.logger.debug({ err }, 'registry cache: watch failed')
      }
      if (this.closed) break
      // Events may have been missed while no watch ran: entries stay usable but are no longer fresh.
      for (const e of this.entries.values()) e.freshUntil = 0
      attempt++
      this.watchRestarts++
      // Resolves early (rejects, ignored) when the cache closes.
      await sleep(WATCH_RETRY(attempt), this.abort.signal).catch(() => {})
    }
  }
}

export function createRegistryCache(registry: Registry, options?: CacheOptions): RegistryCache {
  return new RegistryCache(registry, options)
}

/**
 * Cached records are handed to the selector (and the node it picks to the client and its
 * wrappers) without a copy, so they are frozen: a change by mistake throws instead of quietly
 * rewriting what every later call sees.
 */
function freeze(service: Service): Service {
  const deep = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return
    Object.freeze(v)
    for (const k of Object.keys(v)) deep((v as Record<string, unknown>)[k])
  }
  deep(service)
  return service
}
