/**
 * What telemetry costs a call: one greeter service and its client in this process, 64 calls in
 * flight over a transport, CPU per 10,000 calls (5 windows; min and median), with the telemetry
 * named on the command line, each a step more of the tracing setup than the one before:
 *
 *   off        nothing
 *   metrics    prometheusMetrics() in both
 *   fake       tracing on with a tracer whose spans only keep their attributes: our instrumentation
 *   als        the SDK's context manager alone (AsyncLocalStorage), no tracer: its promise hooks
 *   fake-ctx   fake + the SDK's context manager and W3C propagator: trace context in and out
 *   sdk        startTracing() with no exporter: the SDK's spans, nothing exported
 *   bsp-noop   + the batch span processor, to an exporter that drops each batch
 *   bsp-encode + each batch OTLP/protobuf-encoded (the OTLP exporter's serializer), not sent
 *   otlp       + the OTLP/HTTP exporter sending to a sink in this process (what the bench runs)
 *
 *   node scripts/cost.mjs <mode> [tcp|http] [seconds=3]
 *
 * Under callgrind (COST_CALLS=n COST_DIR=<its output dir> valgrind --tool=callgrind ...) it
 * counts instructions per call of three windows of n calls instead (after COST_WARMUP calls).
 */
import http from 'node:http'
import { createRequire } from 'node:module'
import {
  createLogger,
  createMemoryBroker,
  createMemoryRegistry,
  createMemoryStore,
  createService,
  loadPlugin,
} from '@micro-ts/core'

const [mode = 'off', transportName = 'tcp', secondsArg = '3'] = process.argv.slice(2)
const seconds = Number(secondsArg)
// The SDK's parts that are not our dependencies: resolved from the packages that depend on them.
const require = createRequire(import.meta.url)
const fromSdk = createRequire(require.resolve('@opentelemetry/sdk-trace-node'))
const fromExporter = createRequire(require.resolve('@opentelemetry/exporter-trace-otlp-proto'))

async function sink() {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      req.on('data', () => {})
      req.on('end', () => res.writeHead(200, { 'Content-Length': 0 }).end())
    })
    server.listen(0, '127.0.0.1', () => {
      server.unref()
      resolve(`http://127.0.0.1:${server.address().port}/v1/traces`)
    })
  })
}

const stats = { exported: 0, bytes: 0 }
async function telemetry() {
  if (mode === 'off') return undefined
  if (mode === 'als') {
    // Only the SDK's context manager (AsyncLocalStorage): no tracer, so no spans; its promise hooks stay on.
    const { context, ROOT_CONTEXT } = await import('@opentelemetry/api')
    const { AsyncLocalStorageContextManager } = fromSdk('@opentelemetry/context-async-hooks')
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    context.with(ROOT_CONTEXT.setValue(Symbol('x'), 1), () => {})
    return undefined
  }
  if (mode === 'fake' || mode === 'fake-ctx') {
    // Our instrumentation alone: a tracer whose spans keep their attributes and nothing else.
    // fake-ctx adds the SDK's context manager and W3C propagator (what trace context costs).
    const api = await import('@opentelemetry/api')
    const sc = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 }
    class FakeSpan {
      constructor(name, options) {
        this.name = name
        // Copied name by name: a spread copy takes later names the slow way (see client/rpc.ts).
        this.attributes = {}
        for (const k in options?.attributes) this.attributes[k] = options.attributes[k]
      }
      spanContext() {
        return sc
      }
      setAttribute(k, v) {
        this.attributes[k] = v
        return this
      }
      setAttributes(a) {
        for (const k in a) this.attributes[k] = a[k]
        return this
      }
      setStatus() {
        return this
      }
      addEvent() {
        return this
      }
      recordException() {}
      updateName() {
        return this
      }
      isRecording() {
        return true
      }
      end() {}
    }
    const tracer = {
      startSpan: (name, options) => new FakeSpan(name, options),
      startActiveSpan() {
        throw new Error('unused')
      },
    }
    api.trace.setGlobalTracerProvider({ getTracer: () => tracer })
    if (mode === 'fake-ctx') {
      const { AsyncLocalStorageContextManager } = fromSdk('@opentelemetry/context-async-hooks')
      api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
      const core = fromSdk('@opentelemetry/core')
      api.propagation.setGlobalPropagator(new core.W3CTraceContextPropagator())
    }
    return { tracing: true }
  }
  if (mode === 'metrics') {
    const { prometheusMetrics } = await import('@micro-ts/telemetry')
    return { metrics: prometheusMetrics() }
  }
  const { startTracing } = await import('@micro-ts/telemetry/tracing')
  let exporter
  if (mode === 'otlp') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto')
    exporter = new OTLPTraceExporter({ url: await sink() })
  } else if (mode === 'bsp-noop' || mode === 'bsp-encode') {
    const serializer =
      mode === 'bsp-encode'
        ? fromExporter('@opentelemetry/otlp-transformer').ProtobufTraceSerializer
        : undefined
    exporter = {
      export(spans, cb) {
        stats.exported += spans.length
        if (serializer) stats.bytes += serializer.serializeRequest(spans).length
        cb({ code: 0 })
      },
      shutdown: async () => {},
      forceFlush: async () => {},
    }
  }
  const env = { OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_EXPORTER: exporter ? 'otlp' : 'none' }
  await startTracing({ serviceName: 'cost', exporter, env })
  return { tracing: true }
}

const logger = createLogger('warn')
const tel = await telemetry()
const registry = createMemoryRegistry()
const transport = await loadPlugin('transport', transportName, { logger })
const server = await createService({
  telemetry: tel,
  name: 'cost.greeter',
  address: '127.0.0.1:0',
  registry,
  broker: createMemoryBroker(),
  transport,
  store: createMemoryStore(),
  logger,
})
server.handle(
  {
    async Hello(req) {
      return { greeting: `Hello ${req.name}` }
    },
  },
  { name: 'Greeter' },
)
await server.start()
const ctransport = await loadPlugin('transport', transportName, { logger })
const client = await createService({
  telemetry: tel,
  name: 'cost.client',
  registry,
  broker: createMemoryBroker(),
  transport: ctransport,
  store: createMemoryStore(),
  logger,
})

let calls = 0
let stop = false
async function loop() {
  while (!stop) {
    const r = await client.client.call('cost.greeter', 'Greeter.Hello', { name: 'John' })
    if (r.greeting !== 'Hello John') throw new Error('bad answer')
    calls++
  }
}
async function run(ms) {
  stop = false
  calls = 0
  const loops = Array.from({ length: 64 }, loop)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, ms))
  stop = true
  await Promise.all(loops)
  const cpu = process.cpuUsage(cpu0)
  const wall = performance.now() - t0
  return { calls, wall, cpuMs: (cpu.user + cpu.system) / 1000 }
}
if (process.env.COST_CALLS) {
  // Under callgrind: instructions per call of fixed windows (zero the counters, run, dump).
  const { spawn } = await import('node:child_process')
  const { readdirSync, readFileSync } = await import('node:fs')
  const control = (flag) =>
    new Promise((resolve, reject) => {
      const c = spawn('callgrind_control', [flag, String(process.pid)], { stdio: 'ignore' })
      c.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`callgrind_control ${flag}: ${code}`)),
      )
    })
  const dir = process.env.COST_DIR
  const counted = async (n) => {
    let left = n
    const one = async () => {
      while (left-- > 0) await client.client.call('cost.greeter', 'Greeter.Hello', { name: 'John' })
    }
    await Promise.all(Array.from({ length: 64 }, one))
  }
  await counted(Number(process.env.COST_WARMUP ?? 3000))
  const out = []
  for (let w = 0; w < Number(process.env.COST_WINDOWS ?? 3); w++) {
    await control('-z')
    await counted(Number(process.env.COST_CALLS))
    const before = new Set(readdirSync(dir))
    await control('-d')
    for (;;) {
      const f = readdirSync(dir).find((x) => !before.has(x) && x.includes(`.${process.pid}`))
      const m = f && /^(?:totals|summary): (\d+)/m.exec(readFileSync(`${dir}/${f}`, 'utf8'))
      if (m) {
        out.push(Number(m[1]) / Number(process.env.COST_CALLS))
        break
      }
      await new Promise((r) => setTimeout(r, 200))
    }
  }
  console.log(
    `${mode.padEnd(10)} ${transportName} instructions per call: ${out.map((x) => `${(x / 1000).toFixed(0)}k`).join(' ')}`,
  )
  process.exit(0)
}
await run(1000)
const rs = []
for (let i = 0; i < 5; i++) rs.push(await run((seconds * 1000) / 5))
const per = rs.map((r) => (r.cpuMs / r.calls) * 10000).sort((a, b) => a - b)
const cps = rs.map((r) => r.calls / (r.wall / 1000)).sort((a, b) => a - b)
console.log(
  `${mode.padEnd(10)} ${transportName} CPU ms/10k calls: min ${per[0].toFixed(0)} median ${per[2].toFixed(0)} (${per.map((x) => x.toFixed(0)).join(' ')})  calls/s: ${cps.map((x) => x.toFixed(0)).join(' ')}`,
)
await client.stop()
await server.stop()
process.exit(0)
