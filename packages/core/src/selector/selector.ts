/**
 * The registry selector (go-micro's selector/default.go, with the parts go-micro leaves as no-ops
 * filled in): nodes come from a RegistryCache kept fresh by the registry's watch, are narrowed by
 * version, endpoint, node metadata, custom filters and `exclude`, and one is picked at random or
 * round robin. A node reported failed through `mark()` is set aside for a while: it is picked only
 * when every other candidate is set aside too, since a suspect node beats no node at all.
 */
import { MicroError } from '../errors.js'
import { type Logger, silentLogger } from '../logger.js'
import { RegistryCache } from '../registry/cache.js'
import type { Node, Registry, Service } from '../registry/types.js'
import { copyServices, isNotFound } from '../registry/util.js'
import { filterEndpoint, filterMetadata, filterVersion } from './filters.js'
import type { SelectOptions, Selector, SelectStrategy } from './types.js'

/** The error id selector errors carry. */
export const SELECTOR_ERROR_ID = 'go.micro.selector'

export interface SelectorOptions {
  registry: Registry
  /** `random` (default) or `roundrobin`. */
  strategy?: SelectStrategy
  /** Registry cache TTL in ms (default 60 000, go-micro's); 0 asks the registry on every select. */
  cacheTtl?: number
  /** How long a node that failed stays set aside, in ms (default 10 000). */
  setAsideMs?: number
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

/** Most set-aside marks kept; past it expired marks are swept and then the oldest go. */
const MAX_MARKS = 10_000

export class RegistrySelector implements Selector {
  readonly name: SelectStrategy
  private readonly cache: RegistryCache
  private readonly logger: Logger
  private readonly setAsideMs: number
  /** `service\0nodeId` → epoch ms until which the node is set aside. */
  private readonly marks = new Map<string, number>()
  /** Round-robin position per service. */
  private readonly cursors = new Map<string, number>()

  constructor(options: SelectorOptions) {
    if (!options?.registry) throw new TypeError('createSelector: `registry` is required')
    const strategy = options.strategy ?? 'random'
    if (strategy !== 'random' && strategy !== 'roundrobin') {
      throw new MicroError(
        SELECTOR_ERROR_ID,
        400,
        `unknown selector strategy "${strategy}" (use random or roundrobin)`,
      )
    }
    this.name = strategy
    this.setAsideMs = Math.max(0, options.setAsideMs ?? 10_000)
    this.logger = options.logger ?? silentLogger
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
    if (this.marks.size === 0) return this.pick(service, candidates)

    const now = Date.now()
    const healthy = candidates.filter((n) => !this.isSetAside(service, n.id, now))
    return this.pick(service, healthy.length > 0 ? healthy : candidates)
  }

  mark(service: string, node: Node, error?: unknown): void {
    if (!node || typeof node.id !== 'string') return
    // The common case, a success with nothing set aside: nothing to clear.
    if ((error === undefined || error === null) && this.marks.size === 0) return
    const key = `${service}\u0000${node.id}`
    if (error === undefined || error === null) {
      this.marks.delete(key)
      return
    }
    if (this.setAsideMs === 0) return
    this.marks.delete(key)
    this.marks.set(key, Date.now() + this.setAsideMs)
    if (this.marks.size > MAX_MARKS) this.sweepMarks()
  }

  reset(service: string): void {
    this.cache.invalidate(service)
    this.cursors.delete(service)
    const prefix = `${service}\u0000`
    for (const key of [...this.marks.keys()]) if (key.startsWith(prefix)) this.marks.delete(key)
  }

  async close(): Promise<void> {
    this.marks.clear()
    this.cursors.clear()
    await this.cache.close()
  }

  private isSetAside(service: string, id: string, now: number): boolean {
    const key = `${service}\u0000${id}`
    const until = this.marks.get(key)
    if (until === undefined) return false
    if (until > now) return true
    this.marks.delete(key)
    return false
  }

  /** One of `nodes` (which may be the cache's own array: not changed here). */
  private pick(service: string, nodes: readonly Node[]): Node {
    if (this.name === 'random') return nodes[Math.floor(Math.random() * nodes.length)]
    // A stable order, so the rotation is even whatever order the registry answered in.
    const sorted = [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    // Start at a random place, as go-micro does, so many clients do not all hit the first node first.
    const cursor = this.cursors.get(service) ?? Math.floor(Math.random() * sorted.length)
    this.cursors.set(service, (cursor + 1) % 1_000_000_007)
    return sorted[cursor % sorted.length]
  }

  private sweepMarks(): void {
    const now = Date.now()
    for (const [key, until] of this.marks) if (until <= now) this.marks.delete(key)
    while (this.marks.size > MAX_MARKS) this.marks.delete(this.marks.keys().next().value as string)
  }
}

/** A selector named after its strategy (`random` or `roundrobin`). */
export function createSelector(options: SelectorOptions): RegistrySelector {
  return new RegistrySelector(options)
}
