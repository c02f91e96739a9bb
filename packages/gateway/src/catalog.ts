/**
 * A live view of the registry for what is mounted on the gateway (the dashboard, the MCP
 * endpoint): every service with all its versions, read once and then kept current from the
 * registry's watch, with one change event per service name whose records changed.
 *
 * A watch event only says which name moved; the name is then read again from the registry, so
 * what the catalog holds is always a whole answer of the registry's (never an event applied on
 * top of a possibly stale copy), and a burst of events for one name costs at most two lookups.
 * When the watch ends or fails it is restarted with back-off and everything is read again, since
 * events may have been missed meanwhile.
 */
import { type Logger, type Registry, type Service, silentLogger } from '@micro-ts/core'
import { backoff, isNotFound, sleep } from '@micro-ts/core/plugin'

/** One service name whose records changed. */
export interface CatalogChange {
  name: string
  /** Its records now, one per version, sorted by version; empty once its last node is gone. */
  services: readonly Service[]
}

export interface CatalogOptions {
  /** Most registry lookups at once during a full read (default 8). */
  concurrency?: number
  logger?: Logger
}

const WATCH_RETRY = backoff({ base: 200, max: 30_000 })

interface Lookup {
  again: boolean
  done: Promise<void>
}

export class ServiceCatalog {
  readonly registry: Registry
  private readonly entries = new Map<string, readonly Service[]>()
  private readonly listeners = new Set<(change: CatalogChange) => void>()
  private readonly lookups = new Map<string, Lookup>()
  private readonly abort = new AbortController()
  private readonly concurrency: number
  private readonly logger: Logger
  private started?: Promise<void>
  private error?: Error

  constructor(registry: Registry, options: CatalogOptions = {}) {
    this.registry = registry
    this.concurrency = Math.max(1, options.concurrency ?? 8)
    this.logger = options.logger ?? silentLogger
  }

  /**
   * Start watching and read every service; resolves once the first full read is done, or has
   * failed (then `lastError` says why, and the catalog keeps retrying in the background).
   */
  start(): Promise<void> {
    this.started ??= new Promise<void>((resolve) => void this.run(resolve))
    return this.started
  }

  /** Why the last full read or watch failed, until one succeeds again. */
  get lastError(): Error | undefined {
    return this.error
  }

  /** Every service name with its records, names sorted. The records are shared: do not modify them. */
  list(): CatalogChange[] {
    return [...this.entries.keys()].sort().map((name) => ({ name, services: this.entries.get(name) ?? [] }))
  }

  /** One name's records (empty when unknown). */
  get(name: string): readonly Service[] {
    return this.entries.get(name) ?? []
  }

  /** Call `fn` for every change from now on; returns the unsubscribe function. */
  onChange(fn: (change: CatalogChange) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /** Read `name` again now (a caller that knows it changed need not wait for the watch). */
  refresh(name: string): Promise<void> {
    const running = this.lookups.get(name)
    if (running) {
      running.again = true
      return running.done
    }
    const lookup: Lookup = { again: false, done: Promise.resolve() }
    lookup.done = (async () => {
      try {
        do {
          lookup.again = false
          let services: Service[]
          try {
            services = await this.registry.getService(name)
          } catch (e) {
            if (!isNotFound(e)) throw e
            services = []
          }
          if (this.abort.signal.aborted) return
          this.apply(name, services)
        } while (lookup.again && !this.abort.signal.aborted)
      } finally {
        this.lookups.delete(name)
      }
    })()
    this.lookups.set(name, lookup)
    return lookup.done
  }

  /** Stop the watch and forget every listener; the registry stays open. */
  async close(): Promise<void> {
    this.abort.abort()
    this.listeners.clear()
  }

  private async run(started: () => void): Promise<void> {
    const signal = this.abort.signal
    let attempt = 0
    while (!signal.aborted) {
      try {
        // Watch first, then read: nothing that changes during the read is missed.
        const watcher = this.registry.watch({ signal })
        const events = (async () => {
          for await (const ev of watcher) {
            this.refresh(ev.service.name).catch((e: unknown) =>
              this.failed(e, `lookup of ${ev.service.name}`),
            )
          }
        })()
        events.catch(() => {})
        try {
          await this.readAll()
        } catch (e) {
          watcher.stop()
          throw e
        }
        this.error = undefined
        attempt = 0
        started()
        await events
      } catch (e) {
        if (signal.aborted) break
        this.failed(e, 'registry watch')
        started()
      }
      if (signal.aborted) break
      await sleep(WATCH_RETRY(++attempt), signal).catch(() => {})
    }
    started()
  }

  private async readAll(): Promise<void> {
    const listed = await this.registry.listServices()
    const names = new Set(listed.map((s) => s.name))
    // Names that went away while nobody watched are read too: their lookup finds none.
    for (const name of this.entries.keys()) names.add(name)
    const queue = [...names]
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) await this.refresh(name)
    }
    await Promise.all(Array.from({ length: Math.min(this.concurrency, queue.length) }, worker))
  }

  private apply(name: string, services: Service[]): void {
    const sorted = services
      .map((s) => ({ ...s, nodes: [...(s.nodes ?? [])].sort((a, b) => compare(a.id, b.id)) }))
      .sort((a, b) => compare(a.version, b.version))
    const before = this.entries.get(name)
    if (before && JSON.stringify(before) === JSON.stringify(sorted)) return
    if (!before && sorted.length === 0) return
    if (sorted.length) this.entries.set(name, sorted)
    else this.entries.delete(name)
    for (const fn of this.listeners) {
      try {
        fn({ name, services: sorted })
      } catch (e) {
        this.logger.warn({ err: e, service: name }, 'catalog: a change listener threw')
      }
    }
  }

  private failed(e: unknown, what: string): void {
    this.error = e instanceof Error ? e : new Error(String(e))
    this.logger.warn({ err: e, registry: this.registry.name }, `catalog: ${what} failed`)
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** A live catalog of `registry`; `start()` it. */
export function createCatalog(registry: Registry, options?: CatalogOptions): ServiceCatalog {
  return new ServiceCatalog(registry, options)
}
