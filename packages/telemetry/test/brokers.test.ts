/**
 * The trace context crosses every broker inside the message headers: a publish made inside a
 * span is the parent of the subscriber's process span, and the subscriber's handler runs inside
 * that span. Memory and core's HTTP broker in process; NATS and RabbitMQ on their shared servers.
 */

import {
  canConnect,
  eventually,
  requireBackend,
  testAddress,
  uniqueName,
} from '@micro-ts/conformance/testing'
import {
  type Broker,
  createHttpBroker,
  createMemoryBroker,
  createMemoryRegistry,
  loadPlugin,
  type MicroService,
  type Registry,
  silentLogger,
} from '@micro-ts/core'
import { type SpanContext, SpanKind, trace } from '@opentelemetry/api'
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTracing, type Tracing } from '../src/tracing.js'
import { startService } from './helpers.js'

const NATS = testAddress('nats', '127.0.0.1:4222')
const RABBITMQ = testAddress('rabbitmq', 'amqp://guest:guest@127.0.0.1:5672')
const hostPort = (address: string) => {
  const u = new URL(address.includes('://') ? address : `tcp://${address}`)
  return [u.hostname, Number(u.port)] as const
}
const natsUp = await requireBackend(`NATS at ${NATS}`, async () => {
  if (!(await canConnect(...hostPort(NATS)))) throw new Error('refused')
})
const rabbitUp = await requireBackend(`RabbitMQ at ${RABBITMQ}`, async () => {
  if (!(await canConnect(...hostPort(RABBITMQ)))) throw new Error('refused')
})

const exporter = new InMemorySpanExporter()
let tracing: Tracing
beforeAll(async () => {
  tracing = await startTracing({ exporter, processor: 'simple', serviceName: 'telemetry-brokers' })
})
afterAll(async () => {
  await tracing.shutdown()
})

interface BrokerCase {
  name: string
  up: boolean
  /** One broker per service (each connects on its own, as separate processes would). */
  make(registry: Registry): Promise<Broker>
}

const shared = createMemoryBroker()
const CASES: BrokerCase[] = [
  { name: 'memory', up: true, make: async () => shared },
  {
    name: 'http',
    up: true,
    make: async (registry) => createHttpBroker({ registry, address: '127.0.0.1:0' }),
  },
  {
    name: 'nats',
    up: natsUp,
    make: () => loadPlugin('broker', 'nats', { addresses: [NATS], logger: silentLogger }),
  },
  {
    name: 'rabbitmq',
    up: rabbitUp,
    make: () => loadPlugin('broker', 'rabbitmq', { addresses: [RABBITMQ], logger: silentLogger }),
  },
]

describe.each(CASES)('trace context through the $name broker', (c) => {
  const registry = createMemoryRegistry()
  const topic = uniqueName(`traced-${c.name}`)
  const seen: { active?: SpanContext; headers: Record<string, string>; body: unknown }[] = []
  let subscriber: MicroService
  let publisher: MicroService
  let brokers: Broker[] = []

  beforeAll(async () => {
    if (!c.up) return
    brokers = [await c.make(registry), await c.make(registry)]
    subscriber = await startService('http', registry, { name: `sub.${c.name}`, broker: brokers[0] }, (s) =>
      s.subscribe(
        topic,
        (body, ctx) => {
          seen.push({ active: trace.getActiveSpan()?.spanContext(), headers: ctx.headers, body })
        },
        { queue: 'workers' },
      ),
    )
    publisher = await startService('http', registry, { name: `pub.${c.name}`, broker: brokers[1] })
  })
  afterAll(async () => {
    await publisher?.stop()
    await subscriber?.stop()
    for (const b of new Set(brokers)) await b.disconnect().catch(() => {})
  })

  it.runIf(c.up)('publish → process: one trace, the process span a child of the publish span', async () => {
    exporter.reset()
    const tracer = trace.getTracer('test')
    const root = await tracer.startActiveSpan('test-root', async (span) => {
      // JetStream-less NATS and the HTTP broker drop what nobody has subscribed to yet: publish until one lands.
      await eventually(async () => {
        await publisher.client.publish(topic, { n: 1 })
        expect(seen.length).toBeGreaterThan(0)
      }, 15_000)
      span.end()
      return span.spanContext()
    })
    const delivered = seen[0]
    const publishes = exporter.getFinishedSpans().filter((s) => s.name === `publish ${topic}`)
    await eventually(() => {
      expect(exporter.getFinishedSpans().some((s) => s.name === `process ${topic}`)).toBe(true)
    }, 5000)
    const processed = exporter.getFinishedSpans().find((s) => s.name === `process ${topic}`)!
    const producer = publishes.find((p) => p.spanContext().spanId === processed.parentSpanContext?.spanId)
    expect(producer).toBeDefined()
    expect(producer!.kind).toBe(SpanKind.PRODUCER)
    expect(producer!.parentSpanContext?.spanId).toBe(root.spanId)
    expect(producer!.attributes).toMatchObject({
      'messaging.system': brokers[1].name,
      'messaging.operation.name': 'publish',
      'messaging.operation.type': 'send',
      'messaging.destination.name': topic,
    })
    expect(processed.kind).toBe(SpanKind.CONSUMER)
    expect(processed.spanContext().traceId).toBe(root.traceId)
    expect(processed.attributes).toMatchObject({
      'messaging.system': brokers[0].name,
      'messaging.operation.type': 'process',
      'messaging.destination.name': topic,
      'messaging.consumer.group.name': 'workers',
      'messaging.message.id': producer!.attributes['messaging.message.id'],
    })
    // The handler ran inside the process span, and the message carried W3C trace context.
    expect(delivered.active?.spanId).toBe(processed.spanContext().spanId)
    expect(delivered.headers.traceparent).toBe(`00-${root.traceId}-${producer!.spanContext().spanId}-01`)
    expect(delivered.body).toEqual({ n: 1 })
  })
})
