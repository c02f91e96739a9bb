/**
 * The registry selector (go-micro's selector/default.go, with the parts go-micro leaves as no-ops
 * filled in): nodes come from a RegistryCache kept fresh by the registry's watch, are narrowed by
 * version, endpoint, node metadata, custom filters and `exclude`, and one is picked at random,
 * round robin, or by p2c (the less loaded of two random nodes). Nodes that went down or failed
 * several calls in a row are set aside (outlier ejection, in health.ts) and picked only when every
 * other candidate is set aside too, since a suspect node beats no node at all.
 */
import { MicroError } from '../errors.js'
import { type Logger, silentLogger } from '../logger.js'
import { type CacheStats, RegistryCache } from '../registry/cache.js'
import type { Node, Registry, Service } from '../registry/types.js'
import { copyServices, isNotFound } from '../registry/util.js'
import { filterEndpoint, filterMetadata, filterVersion } from './filters.js'
import { type EjectionOptions, NodeHealth } from './health.js'
import type { CallOutcome, SelectOptions, Selector, SelectStrategy } from './types.js'

/** The error id selector errors carry. */
export const SELECTOR_ERROR_ID = 'go.micro.selector'

/** Every strategy, in the order messages list them. */
export const SELECT_STRATEGIES: readonly SelectStrategy[] = ['random', 'roundrobin', 'p2c']

export interface SelectorOptions {
  registry: Registry
  /** `random` (default), `roundrobin` or `p2c`. */
  strategy?: SelectStrategy
  /** Registry cache TTL in ms (default 60 000, go-micro's); 0 asks the registry on every select. */
  cacheTtl?: number
  /** How long a node that failed stays set aside the first time, in ms (default 10 000; 0: never). Same as `ejection.baseMs`. */
  setAsideMs?: number
  /** Outlier ejection: when a failing node is set aside and for how long; `false` turns it off. */
  ejection?: EjectionOptions | false
  /** p2c: how fast an idle node's latency is forgotten, ms (default 10 000): a node left alone that long looks e times faster. */
  decayMs?: number
  /** p2c: over how long newer latency samples replace older ones, ms (default 1 000). */
  smoothingMs?: number
  logger?: Logger
}

/** A registry failure as the selector reports it: 404 naming the unknown service, else a MicroError. */
function lookupError(service: string, err: unknown): MicroError {
  if (isNotFound(err)) return new MicroError(SELECTOR_ERROR_ID, 404, `service ${service} not found`)
  if (err instanceof MicroError) return err
  return new MicroError(
    SELECTOR_ERROR_ID,
    500,
    `registry lookup for ${service} failed: ${(err as Error)?.message ?? err}`,
    undefined,
    { cause: err },
  )
}

export class RegistrySelector implements Selector {
  readonly name: SelectStrategy
  private readonly cache: RegistryCache
  private readonly logger: Logger
  private readonly health: NodeHealth
  /** Round-robin position per service. */
  private readonly cursors = new Map<string, number>()

  constructor(options: SelectorOptions) {
    if (!options?.registry) throw new TypeError('createSelector: `registry` is required')
    const strategy = options.strategy ?? 'random'
    if (!SELECT_STRATEGIES.includes(strategy)) {
      throw new MicroError(
        SELECTOR_ERROR_ID,
        400,
        `unknown selector strategy "${strategy}" (use ${SELECT_STRATEGIES.join(', ')})`,
      )
    }
    this.name = strategy
    this.logger = options.logger ?? silentLogger
    const ejection =
      options.ejection === false
        ? false
        : { ...options.ejection, baseMs: options.ejection?.baseMs ?? options.setAsideMs }
    this.health = new NodeHealth(
      ejection,
      Math.max(1, options.decayMs ?? 10_000),
      Math.max(1, options.smoothingMs ?? 1_000),
      this.logger,
    )
    this.cache = new RegistryCache(options.registry, { ttl: options.cacheTtl, logger: this.logger })
  }

  select(service: string, options: SelectOptions = {}): Promise<Node> {
    // A warm cache answers without a trip through the event loop.
    const cached = this.cache.peek(service)
    if (cached) {
      try {
        return Promise.resolve(this.choose(service, cached, options))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return this.cache.cached(service).then(
      (services) => this.choose(service, services, options),
      (err: unknown) => {
        const failure = lookupError(service, err)
        // Not found is an answer; anything else is the registry failing, and worth a line.
        if (failure.code !== 404) this.logger.warn({ service, err }, `registry lookup for ${service} failed`)
        throw failure
      },
    )
  }

  /** Narrow `services` by the options and pick one node. */
  private choose(service: string, services: readonly Service[], options: SelectOptions): Node {
    // The built-in filters return new arrays; a caller's own filters get a copy they may change.
    let list = services as Service[]
    if (options.version !== undefined) list = filterVersion(options.version)(list)
    if (options.endpoint !== undefined) list = filterEndpoint(options.endpoint)(list)
    if (options.metadata && Object.keys(options.metadata).length > 0)
      list = filterMetadata(options.metadata)(list)
    if (options.filters?.length) {
      list = copyServices(list)
      for (const f of options.filters) list = f(list) ?? []
    }

    let candidates: readonly Node[]
    let exclude: Set<string> | undefined = options.exclude ? new Set(options.exclude) : undefined
    if (exclude?.size === 0) exclude = undefined
    if (list.length === 1 && !exclude) candidates = list[0].nodes ?? []
    else {
      const seen = new Set<string>()
      const out: Node[] = []
      for (const s of list) {
        for (const n of s.nodes ?? []) {
          if (exclude?.has(n.id) || seen.has(n.id)) continue
          seen.add(n.id)
          out.push(n)
        }
      }
      candidates = out
    }
    if (candidates.length === 0) throw new MicroError(SELECTOR_ERROR_ID, 503, 'none available')
    if (!this.health.anySetAside) return this.pick(service, candidates)

    const now = Date.now()
    const healthy = candidates.filter((n) => !this.health.isSetAside(service, n.id, now))
    return this.pick(service, healthy.length > 0 ? healthy : candidates)
  }

  mark(service: string, node: Node, error?: unknown): void {
    if (!node || typeof node.id !== 'string') return
    this.health.mark(service, node.id, node.address, error !== undefined && error !== null)
  }

  begin(service: string, node: Node): (outcome: CallOutcome) => void {
    const state = this.health.begin(service, node.id)
    const started = performance.now()
    let ended = false
    return (outcome) => {
      if (ended) return
      ended = true
      this.health.end(service, node.id, node.address, state, outcome, performance.now() - started)
    }
  }

  stats(): CacheStats {
    return this.cache.stats()
  }

  reset(service: string): void {
    this.cache.invalidate(service)
    this.cursors.delete(service)
    this.health.reset(service)
  }

  async close(): Promise<void> {
    this.health.clear()
    this.cursors.clear()
    await this.cache.close()
  }

  /** One of `nodes` (which may be the cache's own array: not changed here). */
  private pick(service: string, nodes: readonly Node[]): Node {
    if (this.name === 'random' || nodes.length === 1) return nodes[Math.floor(Math.random() * nodes.length)]
    if (this.name === 'p2c') return this.leastLoaded(service, nodes)
    // A stable order, so the rotation is even whatever order the registry answered in.
    const sorted = [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    // Start at a random place, as go-micro does, so many clients do not all hit the first node first.
    const cursor = this.cursors.get(service) ?? Math.floor(Math.random() * sorted.length)
    this.cursors.set(service, (cursor + 1) % 1_000_000_007)
    return sorted[cursor % sorted.length]
  }

  /**
   * Power of two choices (as Finagle and Envoy balance): two distinct nodes at random, and the
   * one whose latency EWMA × (1 + INFLIGHT_WEIGHT × calls in flight) is lower. A node never
   * timed is costed at the other's latency, so the two compare by calls in flight alone; idle
   * nodes' latency decays, so a node that was slow is tried again after a while.
   */
  private leastLoaded(service: string, nodes: readonly Node[]): Node {
    const i = Math.floor(Math.random() * nodes.length)
    let j = Math.floor(Math.random() * (nodes.length - 1))
    if (j >= i) j++
    const a = nodes[i]
    const b = nodes[j]
    const sa = this.health.get(service, a.id)
    const sb = this.health.get(service, b.id)
    const now = performance.now()
    const la = this.health.latency(sa, now)
    const lb = this.health.latency(sb, now)
    const ca = (la || lb || 1) * (1 + INFLIGHT_WEIGHT * (sa?.inflight ?? 0))
    const cb = (lb || la || 1) * (1 + INFLIGHT_WEIGHT * (sb?.inflight ?? 0))
    if (ca === cb) return Math.random() < 0.5 ? a : b
    return ca < cb ? a : b
  }
}

/**
 * What one call in flight adds to a node's cost, relative to its latency. Finagle's 1 assumes
 * latency is the node's service time; ours is timed by the client around the whole call, so it
 * already holds the node's queue, and weight 1 counted the queue twice: under load the fast
 * nodes, queueing, looked as dear as a node 50 ms slower (bench/README.md, balance). Between
 * nodes of the same latency the weight changes nothing: the one with fewer calls in flight wins.
 */
const INFLIGHT_WEIGHT = 0.1

/** A selector named after its strategy (`random`, `roundrobin` or `p2c`). */
export function createSelector(options: SelectorOptions): RegistrySelector {
  return new RegistrySelector(options)
}
