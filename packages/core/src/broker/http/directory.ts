/**
 * Who subscribes to what: the `micro.http.broker` records in the registry, looked up once per
 * `cacheTtl` (one lookup in flight at a time) and dropped early when the registry's watch or a
 * local (un)subscribe says they changed.
 */
import { isMicroError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import type { Node, Registry, Service, Watcher } from '../../registry/types.js'
import { brokerError } from '../message.js'

/** The registry service every HTTP broker subscriber registers under (go-micro broker/http.go). */
export const HTTP_BROKER_SERVICE = 'micro.http.broker'
/** The version a subscriber without a queue registers with; any other version is a queue name. */
export const BROADCAST_VERSION = 'ff.http.broadcast'

export class SubscriberDirectory {
  private cache: { services: Service[]; expires: number } | undefined
  private inFlight: Promise<Service[]> | undefined
  private generation = 0
  private watcher: Watcher | undefined

  constructor(
    private readonly registry: Registry,
    private readonly cacheTtl: number,
    private readonly logger: Logger,
  ) {}

  /** The subscribers' nodes for `topic`, by version (a queue name, or BROADCAST_VERSION). */
  async nodesFor(topic: string): Promise<Map<string, Node[]>> {
    return nodesByVersion(await this.lookup(), topic)
  }

  /** Forget what was looked up: the next lookup asks the registry. */
  invalidate(): void {
    this.generation++
    this.cache = undefined
    this.inFlight = undefined
  }

  /** Keep the cache fresh from the registry's watch until stop(). */
  start(): void {
    let watcher: Watcher
    try {
      watcher = this.registry.watch({ service: HTTP_BROKER_SERVICE })
    } catch (err) {
      this.logger.debug({ err: errorText(err) }, 'http broker: registry watch unavailable')
      return
    }
    this.watcher = watcher
    void (async () => {
      try {
        for await (const _event of watcher) this.invalidate()
      } catch (err) {
        this.logger.debug({ err: errorText(err) }, 'http broker: registry watch ended')
      } finally {
        if (this.watcher === watcher) this.watcher = undefined
      }
    })()
  }

  stop(): void {
    this.watcher?.stop()
    this.watcher = undefined
    this.invalidate()
  }

  private lookup(): Promise<Service[]> {
    if (this.cache && this.cache.expires > Date.now()) return Promise.resolve(this.cache.services)
    if (this.inFlight) return this.inFlight
    const generation = this.generation
    const p = this.fetch().then((services) => {
      if (generation === this.generation) {
        // Without a working watch, changes are only seen by looking again: keep the cache short.
        const ttl = this.watcher ? this.cacheTtl : Math.min(this.cacheTtl, 1_000)
        this.cache = { services, expires: Date.now() + ttl }
      }
      return services
    })
    this.inFlight = p
    p.finally(() => {
      if (this.inFlight === p) this.inFlight = undefined
    }).catch(() => {})
    return p
  }

  private async fetch(): Promise<Service[]> {
    try {
      return await this.registry.getService(HTTP_BROKER_SERVICE)
    } catch (err) {
      if (isMicroError(err) && err.code === 404) return []
      throw brokerError(
        503,
        `http broker: looking up ${HTTP_BROKER_SERVICE} in the ${this.registry.name} registry failed: ${errorText(err)}`,
        err,
      )
    }
  }
}

function nodesByVersion(services: Service[], topic: string): Map<string, Node[]> {
  const out = new Map<string, Node[]>()
  for (const s of services) {
    for (const node of s.nodes ?? []) {
      if (node.metadata?.broker !== 'http' || node.metadata?.topic !== topic) continue
      const list = out.get(s.version) ?? []
      if (!list.some((n) => n.id === node.id)) list.push(node)
      out.set(s.version, list)
    }
  }
  return out
}

export function errorText(err: unknown): string {
  if (isMicroError(err)) return err.detail
  return err instanceof Error ? err.message : String(err)
}
