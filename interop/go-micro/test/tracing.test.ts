/**
 * Traces across languages, read back from a real Jaeger (scripts/servers/jaeger.sh builds it)
 * through its query API: our services export OTLP with @micro-ts/telemetry's startTracing(), the
 * go-micro programs with go-micro's own OpenTelemetry wrappers (wrapper/trace/opentelemetry) and
 * the Go OTLP exporter. Registry etcd, HTTP broker; RPC over go-micro's HTTP and gRPC transports.
 *
 *   TS → TS → go-micro      one trace: client, server, client, go-micro's server span
 *   TS → go-micro → TS      one trace: the go-micro service continues ours and hands it back
 *   go-micro → TS           go-micro's client span is the parent of our server span
 *   publish → subscribe     our publish is the parent of our process span and of go-micro's
 *                           subscriber span; a go-micro publish is the parent of ours
 */
import { join } from 'node:path'
import { eventually } from '@micro-ts/conformance/testing'
import {
  describeSpans,
  findSpans,
  JaegerServer,
  type JaegerSpan,
  type JaegerTrace,
  parentSpan,
  spanTag,
} from '@micro-ts/conformance/testing/jaeger'
import { createService, type MicroService } from '@micro-ts/core'
import { startTracing, type Tracing } from '@micro-ts/telemetry/tracing'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { lacks, prepareEnv, type TransportKind } from './envs.js'
import { GO_BIN, Proc, TS_DIST } from './harness.js'

const missing = [
  ...(await lacks('etcd')),
  ...(JaegerServer.missing() ? [JaegerServer.missing() as string] : []),
]

type Side = 'go' | 'ts'
const CALLER = 'interop.caller'

/** A traced program (bin/traced-* or dist/traced-greeter.js) for the current test only. */
function traced(
  side: Side,
  program: 'traced-greeter' | 'traced-client',
  args: string[],
  env: Record<string, string>,
): Proc {
  const [cmd, pre] =
    side === 'go' ? [join(GO_BIN, program), []] : [process.execPath, [join(TS_DIST, `${program}.js`)]]
  const p = new Proc(`${side} ${program} ${args.join(' ')}`, cmd, [...pre, ...args], env)
  onTestFinished(() => p.stop())
  return p
}

/** The trace once Jaeger holds `count` of its spans (exporters send in batches). */
function traceWith(jaeger: JaegerServer, traceId: string, count: number): Promise<JaegerTrace> {
  return jaeger.waitForTrace(traceId, count)
}

/** The one span of `t` with this operation name, service and kind. */
function spanOf(t: JaegerTrace, operation: string, service: string, kind: string): JaegerSpan {
  const hits = findSpans(t, operation, kind, service)
  expect(hits, `${service}:${operation}:${kind} among ${describeSpans(t)}`).toHaveLength(1)
  return hits[0]
}

function expectParent(t: JaegerTrace, child: JaegerSpan, parent: JaegerSpan | undefined): void {
  expect(parentSpan(t, child)?.spanID).toBe(parent?.spanID)
}

interface Answer {
  greeting: string
  trace_id: string
  span_id: string
  downstream?: { greeting: string; trace_id: string; span_id: string }
}

for (const transport of ['http', 'grpc'] as TransportKind[]) {
  describe(`tracing TypeScript ↔ go-micro, ${transport} transport`, () => {
    const env = prepareEnv('etcd', missing, transport)
    if (!env) return
    let jaeger: JaegerServer
    let tracing: Tracing
    let caller: MicroService
    let vars: Record<string, string>

    beforeAll(async () => {
      jaeger = await JaegerServer.start()
      vars = {
        ...env.vars,
        MICRO_SERVER_ADDRESS: '127.0.0.1:0',
        OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpHttpEndpoint,
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_BSP_SCHEDULE_DELAY: '200',
      }
      // This test process is a TypeScript service too: the caller whose span starts each trace.
      tracing = await startTracing({
        serviceName: CALLER,
        exporter: new OTLPTraceExporter({ url: `${jaeger.otlpHttpEndpoint}/v1/traces` }),
      })
      caller = await createService({ name: CALLER, env: { ...process.env, ...vars }, logLevel: 'warn' })
    }, 60_000)
    afterAll(async () => {
      await caller?.stop()
      await tracing?.shutdown()
      await jaeger?.stop()
    }, 30_000)

    /** Start the two greeters, `ts.<t>` and `go.<t>`, and wait until both are registered. */
    async function greeters(extra: { ts?: string[]; go?: string[] } = {}) {
      const ts = traced('ts', 'traced-greeter', ['--name', `ts.${transport}`, ...(extra.ts ?? [])], vars)
      const go = traced('go', 'traced-greeter', ['-name', `go.${transport}`, ...(extra.go ?? [])], vars)
      await ts.waitFor((l) => l.ready === true)
      await go.waitFor((l) => l.ready === true)
      return { ts, go }
    }

    it('TS → TS → go-micro is one trace with the right parents', async () => {
      await greeters()
      const rsp = await caller.client.call<Answer>(`ts.${transport}`, 'Greeter.Forward', {
        service: `go.${transport}`,
        endpoint: 'Greeter.Hello',
        name: 'John',
      })
      expect(rsp.greeting).toBe('Hello John')
      expect(rsp.downstream?.trace_id).toBe(rsp.trace_id)
      await tracing.forceFlush()
      const t = await traceWith(jaeger, rsp.trace_id, 4)
      const outer = spanOf(t, `ts.${transport}/Greeter.Forward`, CALLER, 'client')
      const front = spanOf(t, `ts.${transport}/Greeter.Forward`, `ts.${transport}`, 'server')
      const inner = spanOf(t, `go.${transport}/Greeter.Hello`, `ts.${transport}`, 'client')
      // go-micro's handler wrapper names its span <service>.<endpoint>.
      const back = spanOf(t, `go.${transport}.Greeter.Hello`, `go.${transport}`, 'server')
      expectParent(t, outer, undefined)
      expectParent(t, front, outer)
      expectParent(t, inner, front)
      expectParent(t, back, inner)
      expect(back.spanID).toBe(rsp.downstream?.span_id)
      expect(front.spanID).toBe(rsp.span_id)
      expect(spanTag(inner, 'micro.transport')).toBe(transport)
    })

    it('TS → go-micro → TS: the go-micro service continues the trace and hands it back', async () => {
      await greeters()
      const rsp = await caller.client.call<Answer>(`go.${transport}`, 'Greeter.Forward', {
        service: `ts.${transport}`,
        endpoint: 'Greeter.Hello',
        name: 'Jo',
      })
      expect(rsp.greeting).toBe('Hello Jo')
      expect(rsp.downstream?.trace_id).toBe(rsp.trace_id)
      await tracing.forceFlush()
      const t = await traceWith(jaeger, rsp.trace_id, 4)
      const outer = spanOf(t, `go.${transport}/Greeter.Forward`, CALLER, 'client')
      const goServer = spanOf(t, `go.${transport}.Greeter.Forward`, `go.${transport}`, 'server')
      const goClient = spanOf(t, `ts.${transport}.Greeter.Hello`, `go.${transport}`, 'client')
      const tsServer = spanOf(t, `ts.${transport}/Greeter.Hello`, `ts.${transport}`, 'server')
      expectParent(t, outer, undefined)
      expectParent(t, goServer, outer)
      expectParent(t, goClient, goServer)
      expectParent(t, tsServer, goClient)
      expect(tsServer.spanID).toBe(rsp.downstream?.span_id)
    })

    it("go-micro → TS: go-micro's client span is the parent of our server span", async () => {
      await greeters()
      const client = traced(
        'go',
        'traced-client',
        [`ts.${transport}`, 'Greeter.Hello', '{"name":"Go"}'],
        vars,
      )
      expect(await client.exited).toBe(0)
      const out = client.lines[0] as { response: Answer; trace_id: string; span_id: string }
      expect(out.response.greeting).toBe('Hello Go')
      expect(out.response.trace_id).toBe(out.trace_id)
      const t = await traceWith(jaeger, out.trace_id, 2)
      const goClient = spanOf(t, `ts.${transport}.Greeter.Hello`, 'traced.client', 'client')
      const tsServer = spanOf(t, `ts.${transport}/Greeter.Hello`, `ts.${transport}`, 'server')
      expect(goClient.spanID).toBe(out.span_id)
      expectParent(t, goClient, undefined)
      expectParent(t, tsServer, goClient)
    })

    // Messages go through the HTTP broker whatever the RPC transport: once, on the http pass.
    if (transport !== 'http') return

    it('publish → subscribe: our publish is the parent of our subscriber span and of go-micro’s', async () => {
      const topic = `traced.events.${Date.now()}`
      const { ts, go } = await greeters({ ts: ['--topic', topic], go: ['-topic', topic] })
      type Line = { topic: string; body: { n: number }; trace_id: string; span_id: string }
      const isMsg = (l: Record<string, unknown>) => l.topic === topic
      // The HTTP broker finds subscribers in the registry: publish until one message reached both.
      let n = 0
      let traceId = ''
      await eventually(async () => {
        n++
        await caller.client.publish(topic, { n })
        const both = (ts.lines as unknown as Line[])
          .filter(isMsg)
          .find((l) => (go.lines as unknown as Line[]).some((g) => isMsg(g) && g.trace_id === l.trace_id))
        expect(both).toBeDefined()
        traceId = both!.trace_id
      }, 20_000)
      await tracing.forceFlush()
      const t = await traceWith(jaeger, traceId, 3)
      const producer = spanOf(t, `publish ${topic}`, CALLER, 'producer')
      const ours = spanOf(t, `process ${topic}`, `ts.${transport}`, 'consumer')
      // go-micro's subscriber wrapper names its span "Sub from <topic>".
      const theirs = spanOf(t, `Sub from ${topic}`, `go.${transport}`, 'server')
      expectParent(t, producer, undefined)
      expectParent(t, ours, producer)
      expectParent(t, theirs, producer)
      expect(spanTag(producer, 'messaging.destination.name')).toBe(topic)
    })

    it('a go-micro publish is the parent of our subscriber span', async () => {
      const topic = `traced.go.events.${Date.now()}`
      const { ts } = await greeters({ ts: ['--topic', topic] })
      let out: { trace_id: string; span_id: string } | undefined
      await eventually(async () => {
        const pub = traced('go', 'traced-client', ['-publish', topic, '{"n":1}'], vars)
        expect(await pub.exited).toBe(0)
        out = pub.lines[0] as { trace_id: string; span_id: string }
        await ts.waitFor((l) => l.topic === topic && l.trace_id === out?.trace_id, 3_000)
      }, 30_000)
      const t = await traceWith(jaeger, out!.trace_id, 2)
      const goPublish = spanOf(t, `Pub to ${topic}`, 'traced.client', 'client')
      const ours = spanOf(t, `process ${topic}`, `ts.${transport}`, 'consumer')
      expect(goPublish.spanID).toBe(out?.span_id)
      expectParent(t, ours, goPublish)
    })
  })
}
