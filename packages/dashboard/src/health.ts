/**
 * Health of a node, as the gateway sees it (the page never talks to a node itself: that would be
 * a request leaving its origin). A node on the http transport serves go-micro's `/health` on its
 * own address; a node that publishes a `health` address in its metadata serves it there; any
 * other node (tcp, grpc, a Go service) is only checked for accepting a connection.
 */
import { connect } from 'node:net'
import type { Node } from '@micro-ts/core'
import { isDialable, parseAddress } from '@micro-ts/core/plugin'

/**
 * `up`/`down`: the node's `/health` answered (200 or 503); `reachable`: it accepts connections
 * but serves no health report; `unreachable`: no connection.
 */
export type NodeHealthStatus = 'up' | 'down' | 'reachable' | 'unreachable'

export interface NodeHealth {
  id: string
  address: string
  status: NodeHealthStatus
  /** The report's checks (registry, broker, store, the service's own), when it sent them. */
  checks?: { name: string; status: string; error?: string }[]
  error?: string
}

export interface HealthProbeOptions {
  /** How long one probe may take, ms (default 2 000). */
  timeout?: number
  /** How long a result is reused, ms (default 2 000), so many open pages cost one probe. */
  cacheTtl?: number
}

export class HealthProbe {
  private readonly timeout: number
  private readonly cacheTtl: number
  private readonly cache = new Map<string, { at: number; result: Promise<NodeHealth> }>()

  constructor(options: HealthProbeOptions = {}) {
    this.timeout = options.timeout ?? 2_000
    this.cacheTtl = options.cacheTtl ?? 2_000
  }

  check(node: Node): Promise<NodeHealth> {
    const key = `${node.id}\0${node.address}\0${node.metadata?.health ?? ''}\0${node.metadata?.transport ?? ''}`
    const now = Date.now()
    const hit = this.cache.get(key)
    if (hit && now - hit.at < this.cacheTtl) return hit.result
    const result = this.probe(node)
    this.cache.set(key, { at: now, result })
    // Forget old entries so nodes that came and went do not pile up.
    if (this.cache.size > 4096) {
      for (const [k, v] of this.cache) if (now - v.at >= this.cacheTtl) this.cache.delete(k)
    }
    return result
  }

  private async probe(node: Node): Promise<NodeHealth> {
    const base = { id: node.id, address: node.address }
    const healthAt = node.metadata?.health || (node.metadata?.transport === 'http' ? node.address : '')
    if (healthAt) {
      const report = await this.fetchReport(healthAt)
      if (report) return { ...base, ...report }
    }
    if (!isDialable(node.address))
      return { ...base, status: 'unreachable', error: 'the address cannot be dialled' }
    const error = await this.dial(node.address)
    return error ? { ...base, status: 'unreachable', error } : { ...base, status: 'reachable' }
  }

  /** The node's health report, or undefined when what answers is no health endpoint. */
  private async fetchReport(at: string): Promise<Omit<NodeHealth, 'id' | 'address'> | undefined> {
    const url = /^https?:\/\//.test(at)
      ? new URL('/health', at)
      : isDialable(at)
        ? `http://${at}/health`
        : undefined
    if (!url) return undefined
    let res: Response
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(this.timeout), redirect: 'error' })
    } catch (e) {
      return { status: 'unreachable', error: errorText(e) }
    }
    const text = await res.text().catch(() => '')
    if (res.status !== 200 && res.status !== 503) return undefined
    try {
      const report = JSON.parse(text) as { status?: unknown; checks?: unknown }
      if (report.status !== 'up' && report.status !== 'down') return undefined
      const checks = Array.isArray(report.checks)
        ? report.checks
            .filter((c): c is Record<string, unknown> => typeof c === 'object' && c !== null)
            .map((c) => ({
              name: String(c.name ?? ''),
              status: String(c.status ?? ''),
              ...(typeof c.error === 'string' ? { error: c.error } : {}),
            }))
        : undefined
      return { status: report.status, ...(checks ? { checks } : {}) }
    } catch {
      return undefined
    }
  }

  private dial(address: string): Promise<string | undefined> {
    const { host, port } = parseAddress(address)
    return new Promise((resolve) => {
      const socket = connect({ host: host || '127.0.0.1', port })
      const done = (error?: string) => {
        socket.destroy()
        resolve(error)
      }
      socket.setTimeout(this.timeout, () => done(`no connection within ${this.timeout} ms`))
      socket.once('connect', () => done())
      socket.once('error', (e) => done(errorText(e)))
    })
  }
}

function errorText(e: unknown): string {
  const err = e as Error & { cause?: Error }
  return err?.cause?.message || err?.message || String(e)
}
