/** go-micro's health endpoints: `/health`, `/health/live`, `/health/ready` → 200/503 with JSON. */
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

export type HealthCheck = () => Promise<void> | void

const encoder = new TextEncoder()

export async function runChecks(
  checks: Map<string, HealthCheck>,
  info: Record<string, string>,
): Promise<HealthReport> {
  const results = await Promise.all(
    [...checks].map(async ([name, check]): Promise<HealthCheckResult> => {
      const started = performance.now()
      try {
        await check()
        return { name, status: 'up', duration: `${(performance.now() - started).toFixed(3)}ms` }
      } catch (e) {
        return { name, status: 'down', error: (e as Error).message ?? String(e) }
      }
    }),
  )
  return { status: results.every((r) => r.status === 'up') ? 'up' : 'down', checks: results, info }
}

export function healthResponse(report: HealthReport): HttpResponse {
  return {
    status: report.status === 'up' ? 200 : 503,
    headers: { 'Content-Type': 'application/json' },
    body: encoder.encode(JSON.stringify(report)),
  }
}
