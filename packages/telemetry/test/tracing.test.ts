/**
 * Spans with an OpenTelemetry SDK registered (an in-memory exporter): a call chain over every
 * transport is one trace with the right parents and kinds, errors carry the MicroError code, a
 * stream has its pair of spans, log lines inside a handler carry the ids, and a service with
 * tracing off neither makes spans nor continues the trace.
 */
import {
  createMemoryRegistry,
  errors,
  type MicroService,
  type RpcServerStream,
  silentLogger,
} from '@micro-ts/core'
import { activeTracer, setPeer, startClientSpan, startServerSpan } from '@micro-ts/core/telemetry'
import { type Span, SpanKind, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api'
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-node'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startTracing, type Tracing } from '../src/tracing.js'
import { capturedLogger, startService, TRANSPORTS } from './helpers.js'

const exporter = new InMemorySpanExporter()
let tracing: Tracing

beforeAll(async () => {
  tracing = await startTracing({ exporter, processor: 'simple', serviceName: 'telemetry-test' })
})
afterAll(async () => {
  await tracing.shutdown()
})
beforeEach(() => exporter.reset())

/** The finished spans, and lookups by name. */
function spans(): ReadableSpan[] {
  return exporter.getFinishedSpans()
}
function span(name: string, kind?: SpanKind): ReadableSpan {
  const hits = spans().filter((s) => s.name === name && (kind === undefined || s.kind === kind))
  if (hits.length !== 1)
    throw new Error(
      `${hits.length} spans named ${name}: ${spans()
        .map((s) => `${s.name}/${s.kind}`)
        .join(', ')}`,
    )
  return hits[0]
}
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId
const idOf = (s: ReadableSpan) => s.spanContext().spanId

/** A root span of the test's own around `fn`, as a caller's own instrumentation would make. */
async function inRoot<T>(fn: () => Promise<T>): Promise<{ result: T; root: string; traceId: string }> {
  const tracer = trace.getTracer('test')
  return tracer.startActiveSpan('test-root', async (root) => {
    try {
      const result = await fn()
      return { result, root: root.spanContext().spanId, traceId: root.spanContext().traceId }
    } finally {
      root.end()
    }
  })
}

describe.each(TRANSPORTS)('traces over the %s transport', (transport) => {
  const registry = createMemoryRegistry()
  const frontName = `front.${transport}`
  const backName = `back.${transport}`
  const frontLogs = capturedLogger(frontName)
  let front: MicroService
  let back: MicroService
  let caller: MicroService

  beforeAll(async () => {
    back = await startService(transport, registry, { name: backName })
    back.handle(
      {
        async Hello(req: { name: string }, ctx: { headers: Record<string, string> }) {
          return { greeting: `Hello ${req.name}`, traceparent: ctx.headers.traceparent }
        },
        async Down(): Promise<never> {
          throw errors.serviceUnavailable('back.down', 'backend gone')
        },
        async Bad(): Promise<never> {
          throw errors.badRequest('back.bad', 'bad input')
        },
        async Echo(stream: RpcServerStream<{ n: number }, { n: number }>) {
          for await (const m of stream) await stream.send(m)
        },
      },
      { name: 'Back', endpoints: { Echo: { stream: true } } },
    )
    front = await startService(transport, registry, { name: frontName, logger: frontLogs.logger })
    front.handle(
      {
        async Hello(req: { name: string }) {
          front.logger.info({ step: 'calling back' }, 'inside the handler')
          return front.client.call(backName, 'Back.Hello', req)
        },
      },
      { name: 'Front' },
    )
    caller = await startService(transport, registry, { name: `caller.${transport}` })
  })
  afterAll(async () => {
    await caller?.stop()
    await front?.stop()
    await back?.stop()
  })

  it('a call through two services is one trace: client → server → client → server', async () => {
    const { result, root, traceId } = await inRoot(() =>
      caller.client.call<{ greeting: string; traceparent: string }>(frontName, 'Front.Hello', { name: 'J' }),
    )
    expect(result.greeting).toBe('Hello J')
    const outer = span(`${frontName}/Front.Hello`, SpanKind.CLIENT)
    const frontServer = span(`${frontName}/Front.Hello`, SpanKind.SERVER)
    const inner = span(`${backName}/Back.Hello`, SpanKind.CLIENT)
    const backServer = span(`${backName}/Back.Hello`, SpanKind.SERVER)
    for (const s of [outer, frontServer, inner, backServer]) expect(s.spanContext().traceId).toBe(traceId)
    expect(parentOf(outer)).toBe(root)
    expect(parentOf(frontServer)).toBe(idOf(outer))
    expect(parentOf(inner)).toBe(idOf(frontServer))
    expect(parentOf(backServer)).toBe(idOf(inner))
    // What the back end received is W3C trace context naming the inner client span.
    expect(result.traceparent).toBe(`00-${traceId}-${idOf(inner)}-01`)
    expect(outer.attributes).toMatchObject({
      'rpc.system.name': 'go-micro',
      'rpc.method': `${frontName}/Front.Hello`,
      'rpc.response.status_code': '200',
      'micro.service': frontName,
      'micro.endpoint': 'Front.Hello',
      'micro.transport': transport,
      'server.address': '127.0.0.1',
    })
    expect(outer.attributes['server.port']).toBe(Number(front.server.address.split(':').at(-1)))
    expect(backServer.attributes).toMatchObject({
      'rpc.method': `${backName}/Back.Hello`,
      'micro.transport': transport,
      'network.peer.address': '127.0.0.1',
    })
    for (const s of [outer, frontServer, inner, backServer]) expect(s.status.code).toBe(SpanStatusCode.UNSET)
  })

  it('a call made outside any span starts a trace of its own', async () => {
    await caller.client.call(backName, 'Back.Hello', { name: 'x' })
    const client = span(`${backName}/Back.Hello`, SpanKind.CLIENT)
    expect(client.parentSpanContext).toBeUndefined()
    expect(parentOf(span(`${backName}/Back.Hello`, SpanKind.SERVER))).toBe(idOf(client))
  })

  it('a 5xx is an error on both spans, with the MicroError code and id', async () => {
    await expect(caller.client.call(backName, 'Back.Down', {})).rejects.toMatchObject({ code: 503 })
    for (const kind of [SpanKind.CLIENT, SpanKind.SERVER]) {
      const s = span(`${backName}/Back.Down`, kind)
      expect(s.status).toEqual({ code: SpanStatusCode.ERROR, message: 'backend gone' })
      expect(s.attributes).toMatchObject({
        'error.type': '503',
        'rpc.response.status_code': '503',
        'micro.error.code': 503,
        'micro.error.id': 'back.down',
      })
    }
  })

  it("a 4xx is the caller's failure: an error on the client span, only its code on the server span", async () => {
    await expect(caller.client.call(backName, 'Back.Bad', {})).rejects.toMatchObject({ code: 400 })
    expect(span(`${backName}/Back.Bad`, SpanKind.CLIENT).status.code).toBe(SpanStatusCode.ERROR)
    const server = span(`${backName}/Back.Bad`, SpanKind.SERVER)
    expect(server.status.code).toBe(SpanStatusCode.UNSET)
    expect(server.attributes['micro.error.code']).toBe(400)
  })

  it('an endpoint the server does not have is _OTHER, what was asked kept aside', async () => {
    await expect(caller.client.call(backName, 'Back.Nope', {}, { retries: 0 })).rejects.toMatchObject({
      code: 404,
    })
    const server = span('_OTHER', SpanKind.SERVER)
    expect(server.attributes).toMatchObject({
      'rpc.method': '_OTHER',
      'rpc.method_original': `${backName}/Back.Nope`,
    })
    expect(server.attributes['micro.error.code']).toBe(404)
  })

  it('a stream has a client and a server span, ended with the stream', async () => {
    const stream = await caller.client.stream<{ n: number }, { n: number }>(backName, 'Back.Echo')
    await stream.send({ n: 1 })
    expect(await stream.recv()).toEqual({ n: 1 })
    await stream.closeSend()
    expect(await stream.recv()).toBeUndefined()
    await stream.close()
    const client = span(`${backName}/Back.Echo`, SpanKind.CLIENT)
    const server = await new Promise<ReadableSpan>((resolve, reject) => {
      const t0 = Date.now()
      const poll = () => {
        const s = spans().find((x) => x.name === `${backName}/Back.Echo` && x.kind === SpanKind.SERVER)
        if (s) resolve(s)
        else if (Date.now() - t0 > 5000) reject(new Error('no server span for the stream'))
        else setTimeout(poll, 20)
      }
      poll()
    })
    expect(parentOf(server)).toBe(idOf(client))
    expect(server.spanContext().traceId).toBe(client.spanContext().traceId)
  })

  it("log lines written inside a handler carry the handler span's trace and span ids", async () => {
    frontLogs.lines.length = 0
    await caller.client.call(frontName, 'Front.Hello', { name: 'L' })
    const line = frontLogs.lines.find((l) => l.msg === 'inside the handler')
    const server = span(`${frontName}/Front.Hello`, SpanKind.SERVER)
    expect(line).toMatchObject({
      step: 'calling back',
      trace_id: server.spanContext().traceId,
      span_id: idOf(server),
      trace_flags: '01',
    })
  })
})

describe('logs and switches', () => {
  const registry = createMemoryRegistry()
  const started: MicroService[] = []
  afterAll(async () => {
    for (const s of started) await s.stop()
  })

  it('a line outside any span keeps its own fields and has no trace ids', () => {
    const { logger, lines } = capturedLogger('plain')
    logger.info({ a: 1, nested: { b: 2 } }, 'no span here')
    logger.warn('text only')
    expect(lines[0]).toMatchObject({ a: 1, nested: { b: 2 }, msg: 'no span here' })
    expect(lines[0]).not.toHaveProperty('trace_id')
    expect(lines[1]).toMatchObject({ msg: 'text only' })
    expect(lines[1]).not.toHaveProperty('span_id')
  })

  it('a line inside a span of its own carries that span, merged with its fields', async () => {
    const { logger, lines } = capturedLogger('inside')
    const { root, traceId } = await inRoot(async () => logger.info({ a: 1 }, 'in a span'))
    expect(lines[0]).toMatchObject({ a: 1, trace_id: traceId, span_id: root })
  })

  it('telemetry.tracing=false: no spans of its own, and the trace is not continued past it', async () => {
    const back = await startService('http', registry, { name: 'untraced.back' })
    started.push(back)
    back.handle(
      {
        async Hello(_req: unknown, ctx: { headers: Record<string, string> }) {
          return { traceparent: ctx.headers.traceparent ?? null }
        },
      },
      { name: 'B' },
    )
    const off = await startService('http', registry, { name: 'untraced', telemetry: { tracing: false } })
    started.push(off)
    off.handle(
      {
        async Relay() {
          return off.client.call('untraced.back', 'B.Hello', {})
        },
      },
      { name: 'R' },
    )
    const traced = await startService('http', registry, { name: 'traced.caller' })
    started.push(traced)
    const rsp = await traced.client.call<{ traceparent: string | null }>('untraced', 'R.Relay', {})
    expect(rsp.traceparent).toBeNull()
    expect(spans().map((s) => `${s.name}/${s.kind}`)).toEqual([
      `untraced.back/B.Hello/${SpanKind.SERVER}`,
      `untraced/R.Relay/${SpanKind.CLIENT}`,
    ])
    // The back end's span started a trace of its own.
    expect(span('untraced.back/B.Hello').parentSpanContext).toBeUndefined()
  })

  it('OTEL_SDK_DISABLED=true turns a service’s spans off as well', async () => {
    const s = await startService('tcp', registry, {
      name: 'disabled',
      env: { MICRO_STORE: 'memory', OTEL_SDK_DISABLED: 'true' },
      logger: silentLogger,
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
    await s.client.call('disabled', 'P.Ping', {})
    expect(spans()).toEqual([])
  })
})

describe('peer attributes', () => {
  function attributesOf(make: (tracer: Tracer) => Span): ReadableSpan['attributes'] {
    const tracer = activeTracer()
    if (!tracer) throw new Error('no SDK registered')
    exporter.reset()
    make(tracer).end()
    expect(spans()).toHaveLength(1)
    return spans()[0].attributes
  }

  it('server.address and server.port from host:port, an IPv6 host without its brackets', () => {
    const cases: [string, string, number | undefined][] = [
      ['127.0.0.1:8080', '127.0.0.1', 8080],
      ['[::1]:9090', '::1', 9090],
      ['example.com', 'example.com', undefined],
      ['example.com:http', 'example.com', undefined],
    ]
    for (const [address, host, port] of cases) {
      for (let i = 0; i < 2; i++) {
        // Given at the start of the call, then (the second time) known already.
        const given = attributesOf((t) => startClientSpan(t, 'peer', '', 'tcp', address).span)
        expect([given['server.address'], given['server.port']]).toEqual([host, port])
        const picked = attributesOf((t) => {
          const { span } = startClientSpan(t, 'peer', '', 'tcp')
          setPeer(span, address)
          return span
        })
        expect([picked['server.address'], picked['server.port']]).toEqual([host, port])
      }
    }
  })

  it('network.peer.address: the remote address without its port and brackets', () => {
    const cases: [string, string][] = [
      ['127.0.0.1:51234', '127.0.0.1'],
      ['[::1]:51234', '::1'],
      ['[fe80::1%eth0]:7', 'fe80::1%eth0'],
      ['10.1.2.3', '10.1.2.3'],
      ['host:', 'host:'],
    ]
    for (const [remote, peer] of cases) {
      const attributes = attributesOf(
        (t) => startServerSpan(t, 'peer', undefined, false, {}, 'tcp', remote).span,
      )
      expect(attributes['network.peer.address']).toBe(peer)
    }
  })
})
