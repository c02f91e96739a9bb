/**
 * prometheusMetrics() on a running service, over every transport: what GET /metrics on the
 * health endpoint says after known calls, failures, unknown endpoints, calls in flight,
 * publishes and deliveries, and the registry cache.
 */

import { eventually } from '@micro-ts/conformance/testing'
import { createMemoryBroker, createMemoryRegistry, errors, type MicroService } from '@micro-ts/core'
import { Counter, Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { prometheusMetrics } from '../src/index.js'
import { get, httpAddress, parseMetrics, sampleValue, startService, TRANSPORTS } from './helpers.js'

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8'

describe.each(TRANSPORTS)('metrics over the %s transport', (transport) => {
  const registry = createMemoryRegistry()
  const broker = createMemoryBroker()
  const name = `metrics.${transport}`
  let server: MicroService
  let client: MicroService
  let release: () => void = () => {}
  let entered: () => void = () => {}

  beforeAll(async () => {
    // Subscribed after the server started: the broker is connected already.
    await broker.connect()
    server = await startService(transport, registry, {
      name,
      broker,
      telemetry: { metrics: prometheusMetrics() },
    })
    server.handle(
      {
        async Hello(req: { name: string }) {
          return { greeting: `Hello ${req.name}` }
        },
        async Fail() {
          throw errors.badRequest('metrics.fail', 'no')
        },
        async Crash(): Promise<never> {
          throw new Error('boom')
        },
        async Hold() {
          entered()
          await new Promise<void>((resolve) => {
            release = resolve
          })
          return {}
        },
      },
      { name: 'Greeter' },
    )
    server.subscribe('metrics.events', async (msg: { fail?: boolean }) => {
      if (msg.fail) throw new Error('subscriber failed')
    })
    client = await startService(transport, registry, {
      name: `${name}.client`,
      broker,
      telemetry: { metrics: prometheusMetrics() },
    })
    await client.client.call(name, 'Greeter.Hello', { name: 'a' })
    await client.client.call(name, 'Greeter.Hello', { name: 'b' })
    await client.client.call(name, 'Greeter.Hello', { name: 'c' })
    await expect(client.client.call(name, 'Greeter.Fail', {})).rejects.toMatchObject({ code: 400 })
    await expect(client.client.call(name, 'Greeter.Crash', {})).rejects.toMatchObject({ code: 500 })
    await expect(client.client.call(name, 'Greeter.Nope', {}, { retries: 0 })).rejects.toMatchObject({
      code: 404,
    })
    await client.client.publish('metrics.events', { n: 1 })
    await client.client.publish('metrics.events', { n: 2 })
    await client.client.publish('metrics.events', { fail: true })
  })

  afterAll(async () => {
    release()
    await client?.stop()
    await server?.stop()
  })

  const scrape = async (service: MicroService) => {
    const rsp = await get(httpAddress(service), '/metrics')
    expect(rsp.status).toBe(200)
    expect(rsp.type).toBe(PROMETHEUS_TEXT)
    return parseMetrics(rsp.body)
  }

  it("serves go-micro's request names on the server, by service, endpoint, status and code", async () => {
    const m = await scrape(server)
    const hello = { service: name, endpoint: 'Greeter.Hello', status: 'success', code: '200' }
    expect(sampleValue(m, 'micro_request_total', hello)).toBe(3)
    expect(sampleValue(m, 'micro_request_duration_seconds_count', hello)).toBe(3)
    expect(sampleValue(m, 'micro_request_duration_seconds_bucket', { ...hello, le: '+Inf' })).toBe(3)
    expect(sampleValue(m, 'micro_request_duration_seconds_sum', hello)).toBeGreaterThan(0)
    expect(
      sampleValue(m, 'micro_request_total', {
        service: name,
        endpoint: 'Greeter.Fail',
        status: 'fail',
        code: '400',
      }),
    ).toBe(1)
    expect(
      sampleValue(m, 'micro_request_total', {
        service: name,
        endpoint: 'Greeter.Crash',
        status: 'fail',
        code: '500',
      }),
    ).toBe(1)
    // An endpoint the server does not have is one label value, whatever the caller asked for.
    expect(sampleValue(m, 'micro_request_total', { service: name, endpoint: 'unknown', code: '404' })).toBe(1)
    expect(m.some((s) => s.labels.endpoint === 'Greeter.Nope')).toBe(false)
    expect(sampleValue(m, 'micro_request_in_flight', { service: name, endpoint: 'Greeter.Hello' })).toBe(0)
  })

  it('buckets are cumulative and bounded by the count', async () => {
    const m = await scrape(server)
    const buckets = m.filter(
      (s) => s.name === 'micro_request_duration_seconds_bucket' && s.labels.endpoint === 'Greeter.Hello',
    )
    expect(buckets.length).toBeGreaterThan(3)
    for (let i = 1; i < buckets.length; i++)
      expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value)
    expect(buckets.at(-1)?.labels.le).toBe('+Inf')
  })

  it('counts the client side under micro_client_request_*, with the endpoint the caller named', async () => {
    const m = await scrape(client)
    const hello = { service: name, endpoint: 'Greeter.Hello', status: 'success', code: '200' }
    expect(sampleValue(m, 'micro_client_request_total', hello)).toBe(3)
    expect(sampleValue(m, 'micro_client_request_duration_seconds_count', hello)).toBe(3)
    expect(sampleValue(m, 'micro_client_request_total', { endpoint: 'Greeter.Fail', code: '400' })).toBe(1)
    expect(sampleValue(m, 'micro_client_request_total', { endpoint: 'Greeter.Nope', code: '404' })).toBe(1)
    expect(
      sampleValue(m, 'micro_client_request_in_flight', { service: name, endpoint: 'Greeter.Hello' }),
    ).toBe(0)
    // The client served nothing.
    expect(m.filter((s) => s.name === 'micro_request_total')).toEqual([])
  })

  it('shows a call in flight on both sides while the handler runs, and 0 once it answered', async () => {
    const inside = new Promise<void>((resolve) => {
      entered = resolve
    })
    const call = client.client.call(name, 'Greeter.Hold', {})
    await inside
    const flight = { service: name, endpoint: 'Greeter.Hold' }
    expect(sampleValue(await scrape(server), 'micro_request_in_flight', flight)).toBe(1)
    expect(sampleValue(await scrape(client), 'micro_client_request_in_flight', flight)).toBe(1)
    release()
    await call
    expect(sampleValue(await scrape(server), 'micro_request_in_flight', flight)).toBe(0)
    expect(sampleValue(await scrape(client), 'micro_client_request_in_flight', flight)).toBe(0)
  })

  it('counts publishes on the publisher and deliveries on the subscriber, failures apart', async () => {
    const topic = 'metrics.events'
    await eventually(async () => {
      const m = await scrape(server)
      expect(
        sampleValue(m, 'micro_broker_delivery_total', { topic, queue: '', status: 'success', code: '200' }),
      ).toBe(2)
      expect(sampleValue(m, 'micro_broker_delivery_total', { topic, status: 'fail', code: '500' })).toBe(1)
    }, 5000)
    const m = await scrape(client)
    expect(sampleValue(m, 'micro_broker_publish_total', { topic, status: 'success', code: '200' })).toBe(3)
    expect(sampleValue(m, 'micro_broker_publish_duration_seconds_count', { topic, code: '200' })).toBe(3)
  })

  it("reports the client's registry cache: one service, its one node, no watch restarts", async () => {
    const m = await scrape(client)
    expect(sampleValue(m, 'micro_registry_cache_services')).toBe(1)
    expect(sampleValue(m, 'micro_registry_cache_nodes')).toBe(1)
    expect(sampleValue(m, 'micro_registry_watch_restarts_total')).toBe(0)
  })

  it("includes prom-client's process and Node.js metrics", async () => {
    const m = await scrape(server)
    expect(sampleValue(m, 'process_cpu_user_seconds_total')).toBeGreaterThan(0)
    expect(m.some((s) => s.name.startsWith('nodejs_eventloop_lag'))).toBe(true)
  })
})

describe('metrics options and their absence', () => {
  const registry = createMemoryRegistry()
  const started: MicroService[] = []
  afterAll(async () => {
    for (const s of started) await s.stop()
  })

  it('a service without a recorder answers /metrics with 404, its health paths as before', async () => {
    const s = await startService('tcp', registry, { name: 'metrics.none' })
    started.push(s)
    expect((await get(httpAddress(s), '/metrics')).status).toBe(404)
    expect((await get(httpAddress(s), '/health/live')).status).toBe(200)
    expect((await get(httpAddress(s), '/nope')).status).toBe(404)
  })

  it('prefix, constant labels and a registry of the caller’s own, with its own metrics beside ours', async () => {
    const own = new Registry()
    const mine = new Counter({ name: 'my_things_total', help: 'things', registers: [own] })
    mine.inc(7)
    const s = await startService('http', registry, {
      name: 'metrics.options',
      telemetry: { metrics: prometheusMetrics({ prefix: 'shop', registry: own, labels: { region: 'eu' } }) },
    })
    started.push(s)
    s.handle(
      {
        async Ping() {
          return {}
        },
      },
      { name: 'P' },
    )
    await s.client.call('metrics.options', 'P.Ping', {})
    const m = parseMetrics((await get(httpAddress(s), '/metrics')).body)
    expect(sampleValue(m, 'shop_request_total', { endpoint: 'P.Ping', region: 'eu' })).toBe(1)
    expect(sampleValue(m, 'my_things_total', { region: 'eu' })).toBe(7)
    expect(m.some((s) => s.name.startsWith('micro_'))).toBe(false)
    // A registry handed over collects no default metrics unless asked.
    expect(m.some((s) => s.name.startsWith('process_'))).toBe(false)
  })

  it('refuses a prefix that is no metric name and buckets out of order', () => {
    expect(() => prometheusMetrics({ prefix: 'bad-name' })).toThrow(/prefix must be a Prometheus metric name/)
    expect(() => prometheusMetrics({ buckets: [0.1, 0.05] })).toThrow(/ascending/)
    expect(() => prometheusMetrics({ buckets: [] })).toThrow(/ascending/)
  })

  it('stops making new label sets at maxSeries, and keeps counting the ones it has', async () => {
    const metrics = prometheusMetrics({ maxSeries: 2, defaultMetrics: false })
    for (const topic of ['a', 'b', 'c', 'a']) metrics.published(topic, 200, 0.001)
    const m = parseMetrics((await metrics.scrape()).body)
    expect(sampleValue(m, 'micro_broker_publish_total', { topic: 'a' })).toBe(2)
    expect(sampleValue(m, 'micro_broker_publish_total', { topic: 'b' })).toBe(1)
    expect(sampleValue(m, 'micro_broker_publish_total', { topic: 'c' })).toBeUndefined()
  })

  it('requests past maxSeries: known (service, endpoint, code) sets keep counting, new ones are not made', async () => {
    const metrics = prometheusMetrics({ maxSeries: 3, defaultMetrics: false })
    const serve = (endpoint: string, code: number) => {
      metrics.serverStarted('s', endpoint)
      metrics.serverFinished('s', endpoint, code, 0.002)
    }
    serve('A', 200)
    serve('A', 500)
    serve('B', 200)
    // The series table is full (A/200, A/500, B/200); C still gets an in-flight row, the third.
    serve('C', 200)
    serve('A', 200)
    serve('B', 404)
    metrics.serverStarted('s', 'A')
    metrics.serverStarted('s', 'C')
    metrics.serverStarted('s', 'D')
    const m = parseMetrics((await metrics.scrape()).body)
    const total = (endpoint: string, code: string) =>
      sampleValue(m, 'micro_request_total', { service: 's', endpoint, code })
    expect(total('A', '200')).toBe(2)
    expect(total('A', '500')).toBe(1)
    expect(total('B', '200')).toBe(1)
    expect(total('B', '404')).toBeUndefined()
    expect(total('C', '200')).toBeUndefined()
    expect(sampleValue(m, 'micro_request_duration_seconds_count', { endpoint: 'A', code: '200' })).toBe(2)
    expect(
      sampleValue(m, 'micro_request_duration_seconds_bucket', { endpoint: 'A', code: '200', le: '0.0025' }),
    ).toBe(2)
    expect(
      sampleValue(m, 'micro_request_duration_seconds_bucket', { endpoint: 'A', code: '200', le: '0.001' }),
    ).toBe(0)
    const flight = (endpoint: string) => sampleValue(m, 'micro_request_in_flight', { service: 's', endpoint })
    expect(flight('A')).toBe(1)
    expect(flight('B')).toBe(0)
    expect(flight('C')).toBe(1)
    expect(flight('D')).toBeUndefined()
    // The client side is a family of its own, with its own bound.
    metrics.clientStarted('s', 'A')
    metrics.clientFinished('s', 'A', 200, 0.002)
    const after = parseMetrics((await metrics.scrape()).body)
    expect(sampleValue(after, 'micro_client_request_total', { endpoint: 'A', code: '200' })).toBe(1)
    expect(sampleValue(after, 'micro_client_request_in_flight', { endpoint: 'A' })).toBe(0)
  })
})
