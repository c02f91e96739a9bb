/**
 * go-micro's health endpoints: `/health`, `/health/live`, `/health/ready` → 200/503 with JSON.
 * Readiness runs the checks (the components' and the user's), each with a time limit, and reuses
 * the results for a moment so a probe every second does not become a query every second per pod.
 */
import { type Logger, silentLogger } from '../logger.js'
import type { HttpResponse } from '../transport/types.js'

export interface HealthCheckResult {
  name: string
  status: 'up' | 'down'
  error?: string
  duration?: string
}

export interface HealthReport {
  status: 'up' | 'down'
  checks: HealthCheckResult[]
  info: Record<string, string>
}

/**
 * Resolves (or returns) when healthy, throws when not. `signal` fires when the check ran out of
 * time: a check that talks to a backend should pass it on.
 */
export type HealthCheck = (signal: AbortSignal) => Promise<void> | void

export interface HealthChecksOptions {
  /** Longest a check may take before it counts as down, ms (default 1 000). */
  timeout?: number
  /** How long results are reused, ms (default 1 000; 0: run on every probe). */
  cacheTtl?: number
  logger?: Logger
}

const encoder = new TextEncoder()

/** One check with a time limit: never throws, never outlives `timeoutMs`. */
export async function runCheck(
  name: string,
  check: HealthCheck,
  timeoutMs: number,
): Promise<HealthCheckResult> {
  const started = performance.now()
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`timed out after ${timeoutMs}ms`)
      controller.abort(err)
      reject(err)
    }, timeoutMs)
    timer.unref?.()
  })
  try {
    await Promise.race([Promise.resolve().then(() => check(controller.signal)), expired])
    return { name, status: 'up', duration: `${(performance.now() - started).toFixed(3)}ms` }
  } catch (e) {
    return { name, status: 'down', error: (e as Error)?.message || String(e) }
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Named checks run together. Results are reused for `cacheTtl`, concurrent probes share one run,
 * and a check that goes down (or comes back) is logged once, not on every probe.
 */
export class HealthChecks {
  private readonly checks = new Map<string, HealthCheck>()
  private readonly timeout: number
  private readonly cacheTtl: number
  private readonly logger: Logger
  private readonly last = new Map<string, 'up' | 'down'>()
  private cached?: { until: number; results: HealthCheckResult[] }
  private running?: Promise<HealthCheckResult[]>

  constructor(options: HealthChecksOptions = {}) {
    this.timeout = Math.max(1, options.timeout ?? 1_000)
    this.cacheTtl = Math.max(0, options.cacheTtl ?? 1_000)
    this.logger = options.logger ?? silentLogger
  }

  /** Add or replace the check called `name`. */
  add(name: string, check: HealthCheck): void {
    this.checks.set(name, check)
    this.cached = undefined
  }

  /** The results of every check, from the cache while it is fresh. */
  results(): Promise<HealthCheckResult[]> {
    if (this.cached && this.cached.until > Date.now()) return Promise.resolve(this.cached.results)
    this.running ??= this.run().finally(() => {
      this.running = undefined
    })
    return this.running
  }

  private async run(): Promise<HealthCheckResult[]> {
    const results = await Promise.all(
      [...this.checks].map(([name, check]) => runCheck(name, check, this.timeout)),
    )
    for (const r of results) {
      const before = this.last.get(r.name)
      this.last.set(r.name, r.status)
      if (r.status === 'down' && before !== 'down') {
        this.logger.warn({ check: r.name, err: r.error }, `health check ${r.name} is down`)
      } else if (r.status === 'up' && before === 'down') {
        this.logger.info({ check: r.name }, `health check ${r.name} is up again`)
      }
    }
    if (this.cacheTtl > 0) this.cached = { until: Date.now() + this.cacheTtl, results }
    return results
  }
}

export function healthReport(results: HealthCheckResult[], info: Record<string, string>): HealthReport {
  return { status: results.every((r) => r.status === 'up') ? 'up' : 'down', checks: results, info }
}

export function healthResponse(report: HealthReport): HttpResponse {
  return {
    status: report.status === 'up' ? 200 : 503,
    headers: { 'Content-Type': 'application/json' },
    body: encoder.encode(JSON.stringify(report)),
  }
}
