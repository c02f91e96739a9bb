/**
 * What a real Jaeger (scripts/servers/jaeger.sh builds it) receives from startTracing() with
 * nothing but OTEL_EXPORTER_OTLP_ENDPOINT set, read back through its query API: a call through
 * two services on each transport is one trace with client/server parents and the RPC
 * attributes, a 5xx is an error span carrying the MicroError code, and a publish over NATS and
 * RabbitMQ is the parent of a queue subscriber's and a broadcast subscriber's spans. All
 * services live in this process (one SDK, one service.name); the cross-process and
 * cross-language traces are interop/go-micro/test/tracing.test.ts.
 */
import {
  canConnect,
  eventually,
  requireBackend,
  requireThat,
  testAddress,
  uniqueName,
} from '@micro-ts/conformance/testing'
import {
  describeSpans,
  findSpans,
  JaegerServer,
  type JaegerSpan,
  type JaegerTrace,
  parentSpan,
  spanService,
  spanTag,
} from '@micro-ts/conformance/testing/jaeger'
import {
  type Broker,
  createMemoryRegistry,
  errors,
  loadPlugin,
  type MicroService,
  silentLogger,
} from '@micro-ts/core'
import { trace } from '@opentelemetry/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTracing, type Tracing } from '../src/tracing.js'
import { startService, TRANSPORTS } from './helpers.js'

const SERVICE_NAME = 'telemetry-jaeger'
const NATS = testAddress('nats', '127.0.0.1:4222')
const RABBITMQ = testAddress('rabbitmq', 'amqp://guest:guest@127.0.0.1:5672')
const hostPort = (address: string) => {
  const u = new URL(address.includes('://') ? address : `tcp://${address}`)
  return [u.hostname, Number(u.port)] as const
}

const ready = requireThat(!JaegerServer.missing(), JaegerServer.missing() ?? '')
const natsUp =
  ready &&
  (await requireBackend(`NATS at ${NATS}`, async () => {
    if (!(await canConnect(...hostPort(NATS)))) throw new Error('refused')
  }))
const rabbitUp =
  ready &&
  (await requireBackend(`RabbitMQ at ${RABBITMQ}`, async () => {
    if (!(await canConnect(...hostPort(RABBITMQ)))) throw new Error('refused')
  }))

let jaeger: JaegerServer
let tracing: Tracing

/** The trace once Jaeger holds at least `count` of its spans (flushing the batch exporter first). */
async function traceWith(traceId: string, count: number): Promise<JaegerTrace> {
  await tracing.forceFlush()
  return jaeger.waitForTrace(traceId, count)
}

/** The one span of `t` with this name and kind. */
function only(t: JaegerTrace, operation: string, kind: string): JaegerSpan {
  const hits = findSpans(t, operation, kind)
  expect(hits, `${operation}:${kind} among ${describeSpans(t)}`).toHaveLength(1)
  return hits[0]
}

describe.runIf(ready)('spans in a real Jaeger', () => {
  beforeAll(async () => {
    jaeger = await JaegerServer.start()
    // Only the variables: the default exporter (OTLP over HTTP/protobuf) and batch processor.
    tracing = await startTracing({
      serviceName: SERVICE_NAME,
      env: {
        ...process.env,
        OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpHttpEndpoint,
        OTEL_TRACES_EXPORTER: 'otlp',
      },
    })
  })
  afterAll(async () => {
    await tracing?.shutdown()
    await jaeger?.stop()
  })

  describe.each(TRANSPORTS)('a call through two services over %s', (transport) => {
    const registry = createMemoryRegistry()
    const front = `jaeger.front.${transport}`
    const back = `jaeger.back.${transport}`
    let services: MicroService[] = []

    beforeAll(async () => {
      const backend = await startService(transport, registry, { name: back })
      backend.handle(
        {
          async Hello(req: { name: string }) {
            return { greeting: `Hello ${req.name}` }
          },
          async Crash(): Promise<never> {
            throw errors.internalServerError('jaeger.crash', 'boom')
          },
        },
        { name: 'Greeter' },
      )
      const frontend = await startService(transport, registry, { name: front })
      frontend.handle(
        {
          async Forward(req: { endpoint: string }) {
            const sc = trace.getActiveSpan()?.spanContext()
            // No retries: a failed call is one server span.
            const rsp = await frontend.client.call<{ greeting: string }>(
              back,
              req.endpoint,
              { name: 'Jo' },
              { retries: 0 },
            )
            return { ...rsp, traceId: sc?.traceId ?? '' }
          },
        },
        { name: 'Edge' },
      )
      const caller = await startService(transport, registry, { name: `jaeger.caller.${transport}` })
      services = [caller, frontend, backend]
    })
    afterAll(async () => {
      for (const s of services) await s.stop()
    })

    it('is one trace: client → server → client → server, with the RPC attributes', async () => {
      const rsp = await services[0].client.call<{ greeting: string; traceId: string }>(
        front,
        'Edge.Forward',
        {
          endpoint: 'Greeter.Hello',
        },
      )
      expect(rsp.greeting).toBe('Hello Jo')
      const t = await traceWith(rsp.traceId, 4)
      expect(t.spans).toHaveLength(4)
      const outer = only(t, `${front}/Edge.Forward`, 'client')
      const edge = only(t, `${front}/Edge.Forward`, 'server')
      const inner = only(t, `${back}/Greeter.Hello`, 'client')
      const hello = only(t, `${back}/Greeter.Hello`, 'server')
      expect(parentSpan(t, outer)).toBeUndefined()
      expect(parentSpan(t, edge)?.spanID).toBe(outer.spanID)
      expect(parentSpan(t, inner)?.spanID).toBe(edge.spanID)
      expect(parentSpan(t, hello)?.spanID).toBe(inner.spanID)
      for (const s of t.spans) {
        expect(spanService(t, s)).toBe(SERVICE_NAME)
        expect(spanTag(s, 'rpc.system.name')).toBe('go-micro')
        expect(spanTag(s, 'micro.transport')).toBe(transport)
        expect(spanTag(s, 'rpc.response.status_code')).toBe('200')
      }
      expect(spanTag(inner, 'rpc.method')).toBe(`${back}/Greeter.Hello`)
      expect(spanTag(inner, 'server.port')).toBe(Number(services[2].server.address.split(':').at(-1)))
      // Each child starts within its parent (a server may end its span after the answer left).
      // The SDK anchors each local root span's clock (a server span of a remote parent is one) to
      // Date.now(), in whole milliseconds: across that boundary two spans' times may be up to
      // 1 ms off each other (a server span was seen starting 63 µs after its client span ended).
      // A client span under its server span shares that span's clock: exact.
      const anchorUs = 1000
      for (const [child, parent, slack] of [
        [edge, outer, anchorUs],
        [inner, edge, 0],
        [hello, inner, anchorUs],
      ] as const) {
        expect(child.startTime).toBeGreaterThanOrEqual(parent.startTime - slack)
        expect(child.startTime).toBeLessThanOrEqual(parent.startTime + parent.duration + slack)
      }
    })

    it('a 5xx is an error on every span of the chain, with the MicroError code and id', async () => {
      const err = await services[0].client
        .call(front, 'Edge.Forward', { endpoint: 'Greeter.Crash' }, { retries: 0 })
        .catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 500 })
      // The failed call's trace id is not in the answer: find it among the traces of this service.
      let t: JaegerTrace | undefined
      await tracing.forceFlush()
      await eventually(async () => {
        const traces = await jaeger.traces(SERVICE_NAME, 100)
        t = traces.find((x) => x.spans.some((s) => s.operationName === `${back}/Greeter.Crash`))
        expect(t?.spans.length ?? 0).toBe(4)
      }, 30_000)
      const crash = only(t as JaegerTrace, `${back}/Greeter.Crash`, 'server')
      expect(spanTag(crash, 'error')).toBe(true)
      expect(spanTag(crash, 'otel.status_code')).toBe('ERROR')
      expect(spanTag(crash, 'micro.error.code')).toBe(500)
      expect(spanTag(crash, 'micro.error.id')).toBe('jaeger.crash')
      expect(spanTag(crash, 'error.type')).toBe('500')
      for (const s of (t as JaegerTrace).spans) expect(spanTag(s, 'error'), s.operationName).toBe(true)
    })
  })

  const BROKERS = [
    { name: 'nats', up: natsUp, options: { addresses: [NATS] } },
    { name: 'rabbitmq', up: rabbitUp, options: { addresses: [RABBITMQ] } },
  ]

  describe.each(BROKERS)('a publish over $name', (b) => {
    const registry = createMemoryRegistry()
    const topic = uniqueName(`jaeger-${b.name}`)
    const got: { who: string; traceId: string; spanId: string }[] = []
    let services: MicroService[] = []
    let brokers: Broker[] = []

    beforeAll(async () => {
      if (!b.up) return
      const broker = () => loadPlugin('broker', b.name, { ...b.options, logger: silentLogger })
      brokers = [await broker(), await broker(), await broker()]
      const record = (who: string) => () => {
        const sc = trace.getActiveSpan()?.spanContext()
        got.push({ who, traceId: sc?.traceId ?? '', spanId: sc?.spanId ?? '' })
      }
      const worker = await startService(
        'http',
        registry,
        { name: `jaeger.worker.${b.name}`, broker: brokers[0] },
        (s) => s.subscribe(topic, record('worker'), { queue: 'workers' }),
      )
      const audit = await startService(
        'http',
        registry,
        { name: `jaeger.audit.${b.name}`, broker: brokers[1] },
        (s) => s.subscribe(topic, record('audit')),
      )
      const publisher = await startService('http', registry, {
        name: `jaeger.pub.${b.name}`,
        broker: brokers[2],
      })
      services = [publisher, worker, audit]
    })
    afterAll(async () => {
      for (const s of services) await s.stop()
      for (const x of brokers) await x.disconnect().catch(() => {})
    })

    it.runIf(b.up)(
      'is one trace: the publish the parent of the queue and the broadcast subscriber',
      async () => {
        // Core NATS drops what nobody has subscribed to yet: publish until both got one.
        await eventually(async () => {
          await services[0].client.publish(topic, { n: 1 })
          const ids = new Set(got.filter((g) => g.who === 'worker').map((g) => g.traceId))
          expect(got.some((g) => g.who === 'audit' && ids.has(g.traceId))).toBe(true)
        }, 20_000)
        const traceId = got.find(
          (g) => g.who === 'audit' && got.some((w) => w.who === 'worker' && w.traceId === g.traceId),
        )!.traceId
        const t = await traceWith(traceId, 3)
        expect(t.spans).toHaveLength(3)
        const producer = only(t, `publish ${topic}`, 'producer')
        const consumers = t.spans.filter((s) => spanTag(s, 'span.kind') === 'consumer')
        expect(consumers.map((s) => s.operationName)).toEqual([`process ${topic}`, `process ${topic}`])
        for (const c of consumers) {
          expect(parentSpan(t, c)?.spanID).toBe(producer.spanID)
          expect(spanTag(c, 'messaging.system')).toBe(b.name)
          expect(spanTag(c, 'messaging.message.id')).toBe(spanTag(producer, 'messaging.message.id'))
        }
        expect(parentSpan(t, producer)).toBeUndefined()
        expect(consumers.map((c) => spanTag(c, 'messaging.consumer.group.name') ?? '').sort()).toEqual([
          '',
          'workers',
        ])
        // Each handler ran inside its own process span.
        const handlerSpans = got.filter((g) => g.traceId === traceId).map((g) => g.spanId)
        expect(handlerSpans.sort()).toEqual(consumers.map((c) => c.spanID).sort())
      },
    )
  })
})
