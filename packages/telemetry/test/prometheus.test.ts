/**
 * A real Prometheus (scripts/servers/prometheus.sh builds it) scraping two services, one on the
 * http transport (its own port) and one on tcp (its health listener): PromQL over the HTTP API
 * gives each one's request count, a request rate, and a p99 that falls in the bucket of a known
 * load's slowest calls. The load's durations are sleeps far apart, so the buckets they land in do
 * not depend on how fast the machine is.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { eventually, requireThat } from '@micro-ts/conformance/testing'
import { PrometheusServer } from '@micro-ts/conformance/testing/prometheus'
import { createMemoryRegistry, type MicroService } from '@micro-ts/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { prometheusMetrics } from '../src/index.js'
import { httpAddress, startService } from './helpers.js'

const ready = requireThat(!PrometheusServer.missing(), PrometheusServer.missing() ?? '')

/** Per half of the load: fast calls, and slow ones that sleep `slowMs`. */
const FAST = 45
const SLOW = 5

describe.runIf(ready)('Prometheus scraping two services', () => {
  const registry = createMemoryRegistry()
  let prometheus: PrometheusServer
  let alpha: MicroService
  let beta: MicroService
  /** The callers, one per transport (a client speaks its own transport only). */
  let callers: Record<string, MicroService>

  const handler = {
    async Work(req: { ms: number }) {
      if (req.ms > 0) await sleep(req.ms)
      return {}
    },
  }

  /** One half of the known load: FAST instant calls and SLOW calls of `slowMs` to `service`. */
  async function load(service: string, slowMs: number): Promise<void> {
    const caller = callers[service]
    for (let i = 0; i < FAST; i++) await caller.client.call(service, 'Load.Work', { ms: 0 })
    await Promise.all(
      Array.from({ length: SLOW }, () => caller.client.call(service, 'Load.Work', { ms: slowMs })),
    )
  }

  const value = async (promql: string) => {
    const samples = await prometheus.query(promql)
    expect(samples, promql).toHaveLength(1)
    return samples[0].value
  }

  beforeAll(async () => {
    alpha = await startService('http', registry, {
      name: 'prom.alpha',
      telemetry: { metrics: prometheusMetrics() },
    })
    alpha.handle(handler, { name: 'Load' })
    beta = await startService('tcp', registry, {
      name: 'prom.beta',
      telemetry: { metrics: prometheusMetrics() },
    })
    beta.handle(handler, { name: 'Load' })
    callers = {
      'prom.alpha': await startService('http', registry, { name: 'prom.caller.http' }),
      'prom.beta': await startService('tcp', registry, { name: 'prom.caller.tcp' }),
    }
    prometheus = await PrometheusServer.start({ targets: [httpAddress(alpha), httpAddress(beta)] })
    await eventually(async () => {
      const targets = await prometheus.targets()
      expect(targets.map((t) => t.health)).toEqual(['up', 'up'])
    }, 30_000)
    // Two halves with a scrape between them, so a rate over the window sees the counters grow.
    await load('prom.alpha', 300)
    await load('prom.beta', 120)
    await eventually(async () => {
      expect(await value('sum(micro_request_total{service="prom.alpha"})')).toBe(FAST + SLOW)
      expect(await value('sum(micro_request_total{service="prom.beta"})')).toBe(FAST + SLOW)
    }, 30_000)
    await load('prom.alpha', 300)
    await load('prom.beta', 120)
    await eventually(async () => {
      expect(await value('sum(micro_request_total{service="prom.alpha"})')).toBe(2 * (FAST + SLOW))
      expect(await value('sum(micro_request_total{service="prom.beta"})')).toBe(2 * (FAST + SLOW))
    }, 30_000)
  }, 180_000)

  afterAll(async () => {
    await prometheus?.stop()
    for (const c of Object.values(callers ?? {})) await c.stop()
    await beta?.stop()
    await alpha?.stop()
  })

  it("scrapes both services' /metrics, each its own instance", async () => {
    const up = await prometheus.query('up{job="micro"}')
    expect(up.map((s) => s.value)).toEqual([1, 1])
    const instances = await prometheus.query('count by (instance, service) (micro_request_total)')
    expect(instances.map((s) => [s.metric.service, s.metric.instance]).sort()).toEqual(
      [
        ['prom.alpha', httpAddress(alpha)],
        ['prom.beta', httpAddress(beta)],
      ].sort(),
    )
  })

  it('the request rate per service is that of the known load, and all of it is successful Load.Work', async () => {
    const rate = await prometheus.query('sum by (service) (rate(micro_request_total[1m]))')
    expect(rate.map((s) => s.metric.service).sort()).toEqual(['prom.alpha', 'prom.beta'])
    // Within the minute each counter went from at most one half of the load to both halves: an
    // increase of at least FAST + SLOW and at most 2 * (FAST + SLOW) (plus Prometheus'
    // extrapolation to the window's edges, well under half of it), over 60 s.
    for (const s of rate) {
      expect(s.value, s.metric.service).toBeGreaterThanOrEqual((FAST + SLOW) / 60)
      expect(s.value, s.metric.service).toBeLessThanOrEqual((3 * (FAST + SLOW)) / 60)
    }
    const failing = await prometheus.query('sum(rate(micro_request_total{status="fail"}[1m]))')
    expect(failing.map((s) => s.value)).toEqual([])
    expect(await value('count(micro_request_total{endpoint="Load.Work",status="success",code="200"})')).toBe(
      2,
    )
  })

  it("p99 falls in each service's slowest bucket, p50 among the fast calls", async () => {
    const p = (q: number, service: string) =>
      value(
        `histogram_quantile(${q}, sum by (le) (rate(micro_request_duration_seconds_bucket{service="${service}"}[1m])))`,
      )
    // 300 ms sleeps land in (0.25, 0.5], 120 ms ones in (0.1, 0.25] (each with 100 ms or more to
    // spare for a busy machine); 10 % of the load is slow.
    const alpha99 = await p(0.99, 'prom.alpha')
    expect(alpha99).toBeGreaterThan(0.25)
    expect(alpha99).toBeLessThanOrEqual(0.5)
    const beta99 = await p(0.99, 'prom.beta')
    expect(beta99).toBeGreaterThan(0.1)
    expect(beta99).toBeLessThanOrEqual(0.25)
    expect(await p(0.5, 'prom.alpha')).toBeLessThan(0.05)
  })

  it('nothing is left in flight once the load is over', async () => {
    const flight = await prometheus.query('micro_request_in_flight{endpoint="Load.Work"}')
    expect(flight.map((s) => [s.metric.service, s.value]).sort()).toEqual([
      ['prom.alpha', 0],
      ['prom.beta', 0],
    ])
  })
})
