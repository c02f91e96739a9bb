/**
 * CPU per span of the OpenTelemetry SDK alone, no RPC around it: a client span with our
 * attributes, started and ended in a loop (`span`), with the trace context set, injected,
 * extracted and entered (`ctx`), through a batch span processor (`bsp`), and OTLP/protobuf
 * encoded the way the OTLP exporter does (`encode`); `0attr` / `3attr` vary the attributes.
 *
 *   node scripts/sdk-cost.mjs span | span-ctx | bsp-noop | bsp-encode | bsp-encode-ctx | bsp-encode-0attr ...
 */
import { createRequire } from 'node:module'
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api'
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node'

const part = process.argv[2] ?? 'span'
const N = Number(process.argv[3] ?? 200_000)
// The exporter's own serializer: a dependency of the OTLP exporter, resolved from it.
const require = createRequire(import.meta.url)
const { ProtobufTraceSerializer } = createRequire(
  require.resolve('@opentelemetry/exporter-trace-otlp-proto'),
)('@opentelemetry/otlp-transformer')
let bytes = 0
const exporter = {
  export(spans, done) {
    if (part.includes('encode')) bytes += ProtobufTraceSerializer.serializeRequest(spans).length
    done({ code: 0 })
  },
  shutdown: async () => {},
}
const provider = new NodeTracerProvider({
  spanProcessors: part.startsWith('bsp') ? [new BatchSpanProcessor(exporter)] : [],
})
provider.register()
const tracer = trace.getTracer('sdk-cost')
const attributes = () => {
  if (part.includes('0attr')) return undefined
  if (part.includes('3attr'))
    return {
      'rpc.system.name': 'go-micro',
      'rpc.method': 'bench.greeter/Greeter.Hello',
      'server.address': '127.0.0.1',
    }
  return {
    'rpc.system.name': 'go-micro',
    'rpc.method': 'bench.greeter/Greeter.Hello',
    'micro.service': 'bench.greeter',
    'micro.endpoint': 'Greeter.Hello',
    'micro.transport': 'tcp',
    'server.address': '127.0.0.1',
    'server.port': 41703,
  }
}

function one(i) {
  const parent = context.active()
  const span = tracer.startSpan(
    'bench.greeter/Greeter.Hello',
    { kind: SpanKind.CLIENT, attributes: attributes() },
    parent,
  )
  if (part.includes('ctx')) {
    const ctx = trace.setSpan(parent, span)
    const headers = {}
    propagation.inject(ctx, headers)
    propagation.extract(ROOT_CONTEXT, headers)
    context.with(ctx, () => i)
  }
  if (!part.includes('0attr')) span.setAttribute('rpc.response.status_code', '200')
  span.end()
}

for (let i = 0; i < 20_000; i++) one(i)
await provider.forceFlush()
bytes = 0
const cpu0 = process.cpuUsage()
const t0 = performance.now()
for (let i = 0; i < N; i++) {
  one(i)
  // Let the processor's timers and exports run, as they would between calls.
  if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve))
}
await provider.forceFlush()
const cpu = process.cpuUsage(cpu0)
const wall = ((performance.now() - t0) * 1000) / N
console.log(
  `${part.padEnd(18)} ${((cpu.user + cpu.system) / N).toFixed(2)} µs CPU per span (${wall.toFixed(2)} µs wall)` +
    (bytes ? `, ${(bytes / N).toFixed(0)} OTLP bytes per span` : ''),
)
await provider.shutdown()
