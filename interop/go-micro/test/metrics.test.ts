/**
 * One Prometheus (scripts/servers/prometheus.sh builds it) scraping a go-micro service on
 * go-micro's Prometheus handler wrapper (wrapper/monitoring/prometheus) and a TypeScript service
 * on @micro-ts/telemetry's prometheusMetrics(): the same PromQL reads both, so a dashboard
 * written for go-micro services reads ours. Registry etcd, HTTP transport.
 */
import { join } from 'node:path'
import { eventually } from '@micro-ts/conformance/testing'
import { PrometheusServer } from '@micro-ts/conformance/testing/prometheus'
import { createService, type MicroService } from '@micro-ts/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lacks, prepareEnv } from './envs.js'
import { GO_BIN, Proc, TS_DIST } from './harness.js'

const missing = [
  ...(await lacks('etcd')),
  ...(PrometheusServer.missing() ? [PrometheusServer.missing() as string] : []),
]

/** Calls each greeter gets: successful Hellos, and Forwards without a service (a BadRequest each). */
const HELLOS = { go: 7, ts: 5 }
const FAILS = 2

describe("metrics: go-micro's Prometheus wrapper and ours, one scrape job", () => {
  const env = prepareEnv('etcd', missing, 'http')
  if (!env) return
  const name = { go: 'metrics.go', ts: 'metrics.ts' }
  let prometheus: PrometheusServer
  let caller: MicroService
  const procs: Proc[] = []

  const count = async (promql: string) =>
    Object.fromEntries((await prometheus.query(promql)).map((s) => [s.metric.service, s.value]))

  beforeAll(async () => {
    const vars = { ...env.vars, MICRO_SERVER_ADDRESS: '127.0.0.1:0', OTEL_TRACES_EXPORTER: 'none' }
    // No collector here: the Go SDK's exporter retries in the background, which is harmless.
    const go = new Proc(
      'go traced-greeter -metrics',
      join(GO_BIN, 'traced-greeter'),
      ['-name', name.go, '-metrics', '127.0.0.1:0'],
      { ...vars, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' },
    )
    const ts = new Proc(
      'ts traced-greeter --metrics',
      process.execPath,
      [join(TS_DIST, 'traced-greeter.js'), '--name', name.ts, '--metrics'],
      vars,
    )
    procs.push(go, ts)
    const targets = [
      (await go.waitFor((l) => l.ready === true)).metrics as string,
      (await ts.waitFor((l) => l.ready === true)).metrics as string,
    ]
    prometheus = await PrometheusServer.start({ targets })
    caller = await createService({
      name: 'metrics.caller',
      env: { ...process.env, ...vars },
      logLevel: 'warn',
    })
    for (const side of ['go', 'ts'] as const) {
      for (let i = 0; i < HELLOS[side]; i++)
        await caller.client.call(name[side], 'Greeter.Hello', { name: 'M' })
      for (let i = 0; i < FAILS; i++)
        await expect(
          caller.client.call(name[side], 'Greeter.Forward', {}, { retries: 0 }),
        ).rejects.toMatchObject({
          code: 400,
        })
    }
    await eventually(async () => {
      expect(await count('sum by (service) (micro_request_total)')).toEqual({
        [name.go]: HELLOS.go + FAILS,
        [name.ts]: HELLOS.ts + FAILS,
      })
    }, 30_000)
  }, 120_000)
  afterAll(async () => {
    await caller?.stop()
    await prometheus?.stop()
    for (const p of procs) await p.stop()
  })

  it('both targets are up, one instance each', async () => {
    const targets = await prometheus.targets()
    expect(targets.map((t) => t.health)).toEqual(['up', 'up'])
  })

  it('the same selector counts successes and failures on both sides, by service and endpoint', async () => {
    expect(
      await count('sum by (service) (micro_request_total{endpoint="Greeter.Hello",status="success"})'),
    ).toEqual({
      [name.go]: HELLOS.go,
      [name.ts]: HELLOS.ts,
    })
    expect(
      await count('sum by (service) (micro_request_total{endpoint="Greeter.Forward",status="fail"})'),
    ).toEqual({
      [name.go]: FAILS,
      [name.ts]: FAILS,
    })
  })

  it('the histograms share their name, their labels and the buckets they have in common', async () => {
    expect(
      await count(
        'sum by (service) (micro_request_duration_seconds_count{endpoint="Greeter.Hello",status="success"})',
      ),
    ).toEqual({ [name.go]: HELLOS.go, [name.ts]: HELLOS.ts })
    // Go's default buckets (5 ms to 10 s) are a subset of ours: each is one `le` for both sides.
    const shared = await prometheus.query(
      'count by (le) (micro_request_duration_seconds_bucket{endpoint="Greeter.Hello",status="success"})',
    )
    const les = shared
      .filter((s) => s.value === 2)
      .map((s) => (s.metric.le === '+Inf' ? Infinity : Number(s.metric.le)))
    expect(les.sort((a, b) => a - b)).toEqual([
      0.005,
      0.01,
      0.025,
      0.05,
      0.1,
      0.25,
      0.5,
      1,
      2.5,
      5,
      10,
      Infinity,
    ])
    // So one quantile over both sides' buckets works: a p99 below the 10 s bound.
    const p99 = await prometheus.query(
      'histogram_quantile(0.99, sum by (le) (micro_request_duration_seconds_bucket{endpoint="Greeter.Hello"}))',
    )
    expect(p99).toHaveLength(1)
    expect(p99[0].value).toBeGreaterThan(0)
    expect(p99[0].value).toBeLessThanOrEqual(10)
  })
})
