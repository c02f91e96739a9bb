/**
 * Helpers every registry shares: deep copies (a registry never hands out or keeps a caller's
 * objects), merging per-node records into one Service per version, input checks, the not-found
 * error, and a ready-made Watcher queue. The embedded registries use them and plugins may too.
 */
import { MicroError } from '../errors.js'
import type { Endpoint, Node, Service, Value, WatchEvent, Watcher } from './types.js'

/** The error id registry errors carry (go-micro's registry package). */
export const REGISTRY_ERROR_ID = 'go.micro.registry'

/** go-micro's `registry.ErrNotFound` as a MicroError: 404 `service not found`. */
export function serviceNotFound(id = REGISTRY_ERROR_ID): MicroError {
  return new MicroError(id, 404, 'service not found')
}

/** True for the not-found error of any registry (code 404), whatever its id. */
export function isNotFound(err: unknown): boolean {
  return err instanceof MicroError && err.code === 404
}

function copyMap(m: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!m || typeof m !== 'object') return undefined
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(m)) out[k] = String(v)
  return out
}

export function copyValue(v: Value): Value {
  const out: Value = { name: v.name, type: v.type }
  if (Array.isArray(v.values)) out.values = v.values.map(copyValue)
  return out
}

export function copyEndpoint(e: Endpoint): Endpoint {
  const out: Endpoint = { name: e.name }
  if (e.request) out.request = copyValue(e.request)
  if (e.response) out.response = copyValue(e.response)
  const md = copyMap(e.metadata)
  if (md) out.metadata = md
  return out
}

export function copyNode(n: Node): Node {
  const out: Node = { id: n.id, address: n.address }
  const md = copyMap(n.metadata)
  if (md) out.metadata = md
  return out
}

/** A deep copy; `nodes` replaces the service's own nodes when given. */
export function copyService(s: Service, nodes?: Node[]): Service {
  const out: Service = {
    name: s.name,
    version: s.version ?? '',
    nodes: (nodes ?? s.nodes ?? []).map(copyNode),
  }
  const md = copyMap(s.metadata)
  if (md) out.metadata = md
  if (Array.isArray(s.endpoints)) out.endpoints = s.endpoints.map(copyEndpoint)
  return out
}

export function copyServices(services: readonly Service[]): Service[] {
  return services.map((s) => copyService(s))
}

/**
 * One Service per name+version with the nodes of all `records` merged (a later node with the same
 * id replaces an earlier one in its place; the later record's endpoints and metadata win). Input
 * order is kept. This is what a registry that stores one record per node (etcd, consul, mDNS)
 * returns from getService. One pass, linear in the nodes. `copy: false` hands out the records'
 * own objects, for records decoded just now and kept nowhere else.
 */
export function mergeServices(records: Iterable<Service>, options: { copy?: boolean } = {}): Service[] {
  const copy = options.copy !== false
  const groups = new Map<
    string,
    {
      last: Service
      endpoints?: Service['endpoints']
      metadata?: Service['metadata']
      nodes: Map<string, Node>
    }
  >()
  for (const r of records) {
    const key = `${r.name}\u0000${r.version ?? ''}`
    let group = groups.get(key)
    if (!group) {
      group = { last: r, nodes: new Map() }
      groups.set(key, group)
    }
    group.last = r
    if (r.endpoints) group.endpoints = r.endpoints
    if (r.metadata) group.metadata = r.metadata
    for (const n of r.nodes ?? []) group.nodes.set(n.id, n)
  }
  return [...groups.values()].map((g) => {
    const nodes = [...g.nodes.values()]
    const out: Service = {
      name: g.last.name,
      version: g.last.version ?? '',
      nodes: copy ? nodes.map(copyNode) : nodes,
    }
    if (g.metadata) out.metadata = copy ? { ...g.metadata } : g.metadata
    if (g.endpoints) out.endpoints = copy ? g.endpoints.map(copyEndpoint) : g.endpoints
    return out
  })
}

/** `nodes` with `incoming` added; an incoming node replaces the node with its id. Copies. */
export function upsertNodes(nodes: readonly Node[], incoming: readonly Node[]): Node[] {
  const out = new Map<string, Node>()
  for (const n of nodes) out.set(n.id, copyNode(n))
  for (const n of incoming) out.set(n.id, copyNode(n))
  return [...out.values()]
}

/** `nodes` without the ids in `removed`. Copies. */
export function removeNodes(nodes: readonly Node[], removed: readonly Node[]): Node[] {
  const gone = new Set(removed.map((n) => n.id))
  return nodes.filter((n) => !gone.has(n.id)).map(copyNode)
}

function isStringMap(v: unknown): boolean {
  return (
    v === undefined ||
    (typeof v === 'object' &&
      v !== null &&
      !Array.isArray(v) &&
      Object.values(v).every((x) => typeof x === 'string'))
  )
}

/**
 * Throw a 400 MicroError unless `service` is a usable registry record: a non-empty name, a string
 * version, nodes with non-empty ids and string addresses, string-valued metadata.
 */
export function validateService(service: unknown, id = REGISTRY_ERROR_ID): asserts service is Service {
  const bad = (detail: string) => new MicroError(id, 400, detail)
  if (!service || typeof service !== 'object') throw bad('service must be an object')
  const s = service as Partial<Service>
  if (typeof s.name !== 'string' || s.name === '') throw bad('service name must be a non-empty string')
  if (s.version !== undefined && typeof s.version !== 'string') throw bad('service version must be a string')
  if (!isStringMap(s.metadata)) throw bad(`service ${s.name}: metadata values must be strings`)
  if (s.endpoints !== undefined && !Array.isArray(s.endpoints))
    throw bad(`service ${s.name}: endpoints must be an array`)
  for (const e of s.endpoints ?? []) {
    if (!e || typeof e.name !== 'string') throw bad(`service ${s.name}: every endpoint needs a name`)
  }
  if (s.nodes !== undefined && !Array.isArray(s.nodes)) throw bad(`service ${s.name}: nodes must be an array`)
  for (const n of s.nodes ?? []) {
    if (!n || typeof n !== 'object') throw bad(`service ${s.name}: every node must be an object`)
    if (typeof n.id !== 'string' || n.id === '')
      throw bad(`service ${s.name}: every node needs a non-empty id`)
    if (typeof n.address !== 'string') throw bad(`service ${s.name}: node ${n.id} needs a string address`)
    if (!isStringMap(n.metadata)) throw bad(`service ${s.name}: node ${n.id} metadata values must be strings`)
  }
}

export interface WatchQueueOptions {
  /** Ends the watcher when aborted. */
  signal?: AbortSignal
  /** Called once when the watcher ends (by stop(), the signal, or the registry), e.g. to unsubscribe. */
  onStop?: () => void
  /**
   * Events kept for a slow consumer (default 1024). Past it the oldest event is dropped: a watcher
   * must never make its registry grow without bound.
   */
  maxBuffered?: number
}

/**
 * A Watcher backed by a bounded queue: the registry calls `push()` for each event, the consumer
 * iterates. Iteration ends after `stop()`, the signal's abort, or breaking out of `for await`.
 */
export class WatchQueue implements Watcher {
  private readonly buffer: WatchEvent[] = []
  private readonly waiters: ((r: IteratorResult<WatchEvent>) => void)[] = []
  private readonly max: number
  private readonly onStop?: () => void
  private readonly signal?: AbortSignal
  private readonly onAbort = () => this.stop()
  private ended = false
  /** Events dropped because the consumer fell behind. */
  dropped = 0

  constructor(options: WatchQueueOptions = {}) {
    this.max = Math.max(1, options.maxBuffered ?? 1024)
    this.onStop = options.onStop
    this.signal = options.signal
    if (this.signal?.aborted) this.stop()
    else this.signal?.addEventListener('abort', this.onAbort, { once: true })
  }

  get stopped(): boolean {
    return this.ended
  }

  /** Deliver an event (the queue keeps the object as is: pass a copy). Ignored once stopped. */
  push(event: WatchEvent): void {
    if (this.ended) return
    const waiter = this.waiters.shift()
    if (waiter) {
      waiter({ value: event, done: false })
      return
    }
    if (this.buffer.length >= this.max) {
      this.buffer.shift()
      this.dropped++
    }
    this.buffer.push(event)
  }

  stop(): void {
    if (this.ended) return
    this.ended = true
    this.signal?.removeEventListener('abort', this.onAbort)
    this.buffer.length = 0
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true })
    this.onStop?.()
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    return {
      next: () => {
        const value = this.buffer.shift()
        if (value) return Promise.resolve({ value, done: false })
        if (this.ended) return Promise.resolve({ value: undefined, done: true })
        return new Promise((resolve) => this.waiters.push(resolve))
      },
      return: () => {
        this.stop()
        return Promise.resolve({ value: undefined, done: true })
      },
    }
  }
}
