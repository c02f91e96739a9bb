/**
 * The in-process registry (go-micro's registry/memory.go): records per name and version, node
 * leases, and watch events. Everything going in and out is copied, so callers can never change
 * the registry's state behind its back.
 */

import { MicroError } from '../errors.js'
import { type Logger, silentLogger } from '../logger.js'
import type {
  Endpoint,
  Node,
  RegisterOptions,
  Registry,
  Service,
  WatchAction,
  Watcher,
  WatchOptions,
} from './types.js'
import {
  copyEndpoint,
  copyNode,
  copyService,
  REGISTRY_ERROR_ID,
  serviceNotFound,
  validateService,
  WatchQueue,
} from './util.js'

export interface MemoryRegistryOptions {
  logger?: Logger
  /** Records to start with (registered without expiry). */
  services?: Service[]
}

interface NodeEntry {
  node: Node
  /** Epoch ms after which the node is gone; absent when it never expires. */
  expiresAt?: number
}

interface VersionRecord {
  name: string
  version: string
  metadata?: Record<string, string>
  endpoints?: Endpoint[]
  nodes: Map<string, NodeEntry>
}

interface Subscriber {
  service?: string
  queue: WatchQueue
}

function sameJSON(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

export class MemoryRegistry implements Registry {
  readonly name = 'memory'
  private readonly records = new Map<string, Map<string, VersionRecord>>()
  private readonly subscribers = new Set<Subscriber>()
  private readonly logger: Logger
  private pruneTimer?: NodeJS.Timeout
  private pruneAt = Number.POSITIVE_INFINITY
  private closed = false

  constructor(options: MemoryRegistryOptions = {}) {
    this.logger = options.logger ?? silentLogger
    for (const s of options.services ?? []) this.add(s, undefined)
  }

  async register(service: Service, options: RegisterOptions = {}): Promise<void> {
    validateService(service)
    const ttl = options.ttl ?? 0
    this.add(service, ttl > 0 && Number.isFinite(ttl) ? Date.now() + ttl : undefined)
  }

  async deregister(service: Service): Promise<void> {
    validateService(service)
    const versions = this.records.get(service.name)
    if (!versions) return
    const ids = new Set((service.nodes ?? []).map((n) => n.id))
    // The named version first; a caller that does not know the version still removes its node ids.
    const exact = versions.get(service.version ?? '')
    const targets = exact && [...ids].some((id) => exact.nodes.has(id)) ? [exact] : [...versions.values()]
    for (const rec of targets) {
      const removed: Node[] = []
      for (const id of ids) {
        const entry = rec.nodes.get(id)
        if (!entry) continue
        rec.nodes.delete(id)
        removed.push(entry.node)
      }
      if (removed.length === 0) continue
      this.logger.debug(
        { service: rec.name, version: rec.version, nodes: removed.length },
        'registry: nodes removed',
      )
      this.dropIfEmpty(rec)
      this.emit('delete', rec, removed)
    }
  }

  async getService(name: string): Promise<Service[]> {
    const versions = typeof name === 'string' ? this.records.get(name) : undefined
    const now = Date.now()
    const out: Service[] = []
    for (const rec of versions?.values() ?? []) {
      // Nodes past their lease are invisible even before the prune timer removes them.
      const nodes = [...rec.nodes.values()]
        .filter((e) => !e.expiresAt || e.expiresAt > now)
        .map((e) => e.node)
      if (nodes.length > 0) out.push(this.toService(rec, nodes))
    }
    if (out.length === 0) throw serviceNotFound()
    return out
  }

  async listServices(): Promise<Service[]> {
    const out: Service[] = []
    for (const versions of this.records.values()) {
      for (const rec of versions.values())
        out.push(
          this.toService(
            rec,
            [...rec.nodes.values()].map((e) => e.node),
          ),
        )
    }
    return out
  }

  watch(options: WatchOptions = {}): Watcher {
    const sub: Subscriber = { service: options.service, queue: undefined as unknown as WatchQueue }
    sub.queue = new WatchQueue({ signal: options.signal, onStop: () => this.subscribers.delete(sub) })
    if (this.closed) sub.queue.stop()
    else if (!sub.queue.stopped) this.subscribers.add(sub)
    return sub.queue
  }

  /** Answers while open: there is no backend to reach. */
  async ping(): Promise<void> {
    if (this.closed) throw new MicroError(REGISTRY_ERROR_ID, 503, 'memory registry is closed')
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.pruneTimer) clearTimeout(this.pruneTimer)
    this.pruneTimer = undefined
    for (const sub of [...this.subscribers]) sub.queue.stop()
  }

  private add(service: Service, expiresAt: number | undefined): void {
    let versions = this.records.get(service.name)
    if (!versions) {
      versions = new Map()
      this.records.set(service.name, versions)
    }
    const version = service.version ?? ''
    let rec = versions.get(version)
    let action: WatchAction | undefined
    if (!rec) {
      rec = { name: service.name, version, nodes: new Map() }
      versions.set(version, rec)
      action = 'create'
    }
    // The latest registration's description of the service wins (a redeploy may add endpoints).
    const endpoints = service.endpoints?.map(copyEndpoint)
    const metadata = service.metadata ? { ...service.metadata } : undefined
    if (action !== 'create' && (!sameJSON(endpoints, rec.endpoints) || !sameJSON(metadata, rec.metadata))) {
      action = 'update'
    }
    rec.endpoints = endpoints
    rec.metadata = metadata
    for (const n of service.nodes ?? []) {
      const prev = rec.nodes.get(n.id)
      const node = copyNode(n)
      if (!prev || !sameJSON(prev.node, node)) action ??= 'update'
      rec.nodes.set(n.id, { node, expiresAt })
    }
    if (expiresAt !== undefined) this.schedulePrune(expiresAt)
    if (action) {
      this.logger.debug({ service: rec.name, version, action }, 'registry: service registered')
      this.emit(
        action,
        rec,
        [...rec.nodes.values()].map((e) => e.node),
      )
    }
  }

  private dropIfEmpty(rec: VersionRecord): void {
    if (rec.nodes.size > 0) return
    const versions = this.records.get(rec.name)
    versions?.delete(rec.version)
    if (versions?.size === 0) this.records.delete(rec.name)
  }

  private toService(rec: VersionRecord, nodes: Node[]): Service {
    return copyService({
      name: rec.name,
      version: rec.version,
      metadata: rec.metadata,
      endpoints: rec.endpoints,
      nodes,
    })
  }

  private emit(action: WatchAction, rec: VersionRecord, nodes: Node[]): void {
    for (const sub of this.subscribers) {
      if (sub.service && sub.service !== rec.name) continue
      sub.queue.push({ action, service: this.toService(rec, nodes) })
    }
  }

  /** One timer, set for the earliest lease; it never keeps the process alive. */
  private schedulePrune(at: number): void {
    if (this.closed || at >= this.pruneAt) return
    if (this.pruneTimer) clearTimeout(this.pruneTimer)
    this.pruneAt = at
    this.pruneTimer = setTimeout(() => this.prune(), Math.max(0, at - Date.now()))
    this.pruneTimer.unref()
  }

  private prune(): void {
    this.pruneTimer = undefined
    this.pruneAt = Number.POSITIVE_INFINITY
    const now = Date.now()
    let next = Number.POSITIVE_INFINITY
    for (const versions of [...this.records.values()]) {
      for (const rec of [...versions.values()]) {
        const expired: Node[] = []
        for (const [id, e] of rec.nodes) {
          if (e.expiresAt === undefined) continue
          if (e.expiresAt <= now) {
            rec.nodes.delete(id)
            expired.push(e.node)
          } else if (e.expiresAt < next) next = e.expiresAt
        }
        if (expired.length === 0) continue
        this.logger.debug(
          { service: rec.name, version: rec.version, nodes: expired.length },
          'registry: TTL expired',
        )
        this.dropIfEmpty(rec)
        this.emit('delete', rec, expired)
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.schedulePrune(next)
  }
}

/** The in-memory registry (`MICRO_REGISTRY=memory`): one process only, for tests and single-process apps. */
export function createMemoryRegistry(options?: MemoryRegistryOptions): MemoryRegistry {
  return new MemoryRegistry(options)
}
