/**
 * Watching on Consul blocking queries: per service, `GET /v1/health/service/<name>?index=&wait=`
 * (what go-micro's watcher runs through consul's `watch` package), turned into create, update
 * and delete events by comparing each answer with the last; for every service, a blocking
 * `GET /v1/catalog/services` that starts and stops the per-service watches.
 *
 * Consul's rules for the index: a wait that ends with the same index means nothing changed; an
 * index that goes backwards means the agent (or the cluster) lost its state. A failed request is
 * retried with back-off until stopped, and the first query after a failure does not block (an
 * agent that restarted has a lower index, which would hold a blocking query for a whole wait).
 *
 * After a failure, or an index that went backwards, the answer is taken as the whole truth with
 * one softening: nodes it lacks are kept for `resyncGrace`. Whether the agent lost its state or
 * the nodes left cannot be told apart (a restarted agent's index may well be higher than the one
 * held), and live owners register again at their register interval: meanwhile no cache drops
 * them. Nodes still missing when the grace ends are reported deleted.
 */

import { setTimeout as delay } from 'node:timers/promises'
import type { Logger, Node, Service, WatchEvent } from '@micro-ts/core'
import { backoff, copyService } from '@micro-ts/core/plugin'
import type { Agents, Answer, ReadOptions } from './agents.js'
import { servicesFromEntries } from './records.js'

export interface WatchSettings {
  read: ReadOptions
  /** Longest wait of one blocking query, ms. */
  wait: number
  resyncGrace: number
  logger: Logger
}

/** Delay before the n-th retry of a failed blocking query: 100 ms doubling to 5 s. */
const retryDelay = backoff({ base: 100, max: 5_000 })

/**
 * Queries of one watch start at least this far apart (ms). A busy service answers every query at
 * once with its whole node list; spacing them coalesces a burst of changes into a few answers, as
 * Consul's documentation asks of clients of high-churn services.
 */
export const MIN_QUERY_INTERVAL = 200

/**
 * A pause that keeps the process alive, as the blocking query it sits between does: a program
 * whose only work is a watch must not exit while it waits. Ends early (without error) on abort.
 */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => {})
}

/** The blocking-query loop both watches share: call `query(index)` until stopped. */
abstract class BlockingLoop {
  protected readonly abort = new AbortController()
  private index = 0n
  private attempt = 0
  /**
   * Set after a failure: the next query asks with index 0 and so answers at once. An agent that
   * restarted empty has a lower index than the one held, and would otherwise hold a blocking
   * query until its wait ran out before the watch saw anything again.
   */
  private resync = false

  constructor(
    protected readonly agents: Agents,
    protected readonly settings: WatchSettings,
  ) {}

  get stopped(): boolean {
    return this.abort.signal.aborted
  }

  stop(): void {
    this.abort.abort()
  }

  protected run(): void {
    void this.loop()
  }

  /**
   * One blocking request from `index` ('0': answer at once); resolves the answer's index.
   * `resync` is true for the first request after a failure.
   */
  protected abstract query(index: string, signal: AbortSignal, resync: boolean): Promise<bigint | undefined>

  /** What is watched, for messages. */
  protected abstract what(): string

  private warned = false

  /** Say once that an anonymous watch of a deny-by-default agent sees nothing. */
  protected warnIfHidden(a: Answer<unknown>): void {
    if (this.warned || this.agents.tokenGiven || (a.aclPolicy !== 'deny' && !a.filteredByAcl)) return
    this.warned = true
    this.settings.logger.warn(
      { agent: this.agents.label(a.agent) },
      `consul registry: the watch of ${this.what()} reads anonymously from an agent whose ACL default policy is deny: it sees nothing; give a token (option token or CONSUL_HTTP_TOKEN)`,
    )
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal
    while (!signal.aborted) {
      const started = Date.now()
      try {
        const resync = this.resync
        const next = (await this.query(resync ? '0' : this.index.toString(), signal, resync)) ?? 0n
        this.attempt = 0
        this.resync = false
        // Never block on 0 again, and start over when the index went backwards.
        this.index = next < 1n ? 1n : next
        const early = MIN_QUERY_INTERVAL - (Date.now() - started)
        if (early > 0) await pause(early, signal)
      } catch (err) {
        if (signal.aborted) return
        this.resync = true
        this.attempt++
        const wait = retryDelay(this.attempt)
        this.settings.logger.warn(
          { err: (err as Error).message, attempt: this.attempt, retryIn: Math.round(wait) },
          `consul registry: watch of ${this.what()} failed; retrying`,
        )
        await pause(wait, signal)
      }
    }
  }

  /** True when `next` is an index from before the one held: the state behind it was lost. */
  protected wentBack(next: bigint | undefined): boolean {
    return next !== undefined && this.index > 1n && next < this.index
  }

  protected blocking(index: string): { index: string; wait: string; timeout: number } {
    const wait = this.settings.wait
    // Consul adds up to wait/16 of jitter to a blocking wait: allow it, and a little more.
    return { index, wait: `${Math.ceil(wait / 1000)}s`, timeout: wait + Math.ceil(wait / 16) + 5_000 }
  }
}

/** Watches one service and emits what changed between answers. */
export class ServiceWatch extends BlockingLoop {
  /** What was last reported, per version. */
  private known = new Map<string, Service>()
  /** The last answer, per version. */
  private latest = new Map<string, Service>()
  private graceUntil = 0
  private graceTimer?: NodeJS.Timeout

  constructor(
    agents: Agents,
    settings: WatchSettings,
    readonly name: string,
    private readonly emit: (event: WatchEvent) => void,
    /** Called after each answer that leaves nothing known, so the owner may stop the watch. */
    private readonly onEmpty?: () => void,
  ) {
    super(agents, settings)
    this.run()
  }

  /** True when no node of the service is known. */
  get empty(): boolean {
    return this.known.size === 0
  }

  override stop(): void {
    super.stop()
    if (this.graceTimer) clearTimeout(this.graceTimer)
  }

  protected what(): string {
    return `service ${JSON.stringify(this.name)}`
  }

  protected async query(index: string, signal: AbortSignal, resync: boolean): Promise<bigint | undefined> {
    const a = await this.agents.health('watch', this.name, this.settings.read, this.blocking(index), signal)
    if (signal.aborted) return a.index
    this.warnIfHidden(a)
    const reset = resync || this.wentBack(a.index)
    if (reset && this.settings.resyncGrace > 0 && this.known.size > 0) {
      this.graceUntil = Date.now() + this.settings.resyncGrace
      if (this.graceTimer) clearTimeout(this.graceTimer)
      this.graceTimer = setTimeout(() => this.reconcile(), this.settings.resyncGrace + 1)
      this.graceTimer.unref()
      this.settings.logger.info(
        { service: this.name, grace: this.settings.resyncGrace },
        'consul registry: watching again after a failure; keeping nodes it no longer sees while their owners register again',
      )
    }
    this.latest = new Map(servicesFromEntries(this.name, a.body).map((s) => [s.version, s]))
    this.reconcile()
    return a.index
  }

  /** Report the difference between what is known and the latest answer (kept nodes included). */
  private reconcile(): void {
    if (this.stopped) return
    const target = Date.now() < this.graceUntil ? keepMissing(this.known, this.latest) : this.latest
    for (const event of diff(this.known, target)) this.emit(event)
    this.known = new Map([...target].map(([v, s]) => [v, copyService(s)]))
    if (this.known.size === 0) this.onEmpty?.()
  }
}

/** Watches the service list and runs a {@link ServiceWatch} for every service in it. */
export class CatalogWatch extends BlockingLoop {
  private readonly watches = new Map<string, ServiceWatch>()
  private names = new Set<string>()

  constructor(
    agents: Agents,
    settings: WatchSettings,
    private readonly emit: (event: WatchEvent) => void,
  ) {
    super(agents, settings)
    this.run()
  }

  override stop(): void {
    super.stop()
    for (const w of this.watches.values()) w.stop()
    this.watches.clear()
  }

  protected what(): string {
    return 'the service list'
  }

  protected async query(index: string, signal: AbortSignal): Promise<bigint | undefined> {
    const a = await this.agents.services('watch', this.settings.read, this.blocking(index), signal)
    if (signal.aborted) return a.index
    this.warnIfHidden(a)
    this.names = new Set(Object.keys(a.body))
    for (const name of this.names) {
      if (this.watches.has(name)) continue
      const w: ServiceWatch = new ServiceWatch(this.agents, this.settings, name, this.emit, () =>
        this.retire(name, w),
      )
      this.watches.set(name, w)
    }
    // A service gone from the list stops being watched once its own watch has reported its
    // nodes gone (or at once when it knew none), so deletes are never lost.
    for (const [name, w] of this.watches) if (!this.names.has(name) && w.empty) this.retire(name, w)
    return a.index
  }

  private retire(name: string, w: ServiceWatch): void {
    if (this.names.has(name) || this.watches.get(name) !== w) return
    w.stop()
    this.watches.delete(name)
  }
}

function nodeKey(n: Node): string {
  return JSON.stringify([n.address, Object.entries(n.metadata ?? {}).sort()])
}

function sameEndpoints(a: Service, b: Service): boolean {
  return JSON.stringify(a.endpoints ?? []) === JSON.stringify(b.endpoints ?? [])
}

/** `latest`, plus every node of `known` it lacks (for the grace after a lost state). */
function keepMissing(known: Map<string, Service>, latest: Map<string, Service>): Map<string, Service> {
  const out = new Map([...latest].map(([v, s]) => [v, copyService(s)]))
  for (const [version, old] of known) {
    const cur = out.get(version)
    if (!cur) {
      out.set(version, copyService(old))
      continue
    }
    const ids = new Set(cur.nodes.map((n) => n.id))
    for (const n of old.nodes) if (!ids.has(n.id)) cur.nodes.push({ ...n })
  }
  return out
}

/**
 * go-micro's watcher semantics, minus its no-op updates: a new version is a `create`, nodes that
 * left a version are a `delete` of those nodes, nodes added or changed an `update` with every
 * node of the version, and a version that is gone a `delete` with the nodes it had.
 */
export function diff(before: Map<string, Service>, after: Map<string, Service>): WatchEvent[] {
  const events: WatchEvent[] = []
  for (const [version, next] of after) {
    const prev = before.get(version)
    if (!prev) {
      events.push({ action: 'create', service: copyService(next) })
      continue
    }
    const nextIds = new Map(next.nodes.map((n) => [n.id, n]))
    const gone = prev.nodes.filter((n) => !nextIds.has(n.id))
    if (gone.length > 0) events.push({ action: 'delete', service: copyService(prev, gone) })
    const prevKeys = new Map(prev.nodes.map((n) => [n.id, nodeKey(n)]))
    const changed = next.nodes.some((n) => prevKeys.get(n.id) !== nodeKey(n)) || !sameEndpoints(prev, next)
    if (changed) events.push({ action: 'update', service: copyService(next) })
  }
  for (const [version, prev] of before) {
    if (!after.has(version)) events.push({ action: 'delete', service: copyService(prev) })
  }
  return events
}
