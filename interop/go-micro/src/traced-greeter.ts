/**
 * The TypeScript twin of bin/traced-greeter (cmd/traced-greeter/main.go): the same endpoints,
 * flags and output, on @micro-ts/core with an OpenTelemetry SDK registered by
 * @micro-ts/telemetry's startTracing() (batch OTLP exporter, OTEL_* variables).
 *
 *   node dist/traced-greeter.js [--name traced.greeter] [--topic t] [--metrics]
 *
 * `--metrics` gives the service @micro-ts/telemetry's prometheusMetrics(), served at /metrics on
 * its health endpoint (the http transport's own port, else the health listener), printed as
 * `metrics` in the ready line.
 */
import { parseArgs } from 'node:util'
import { createService, errors } from '@micro-ts/core'
import { prometheusMetrics } from '@micro-ts/telemetry'
import { startTracing } from '@micro-ts/telemetry/tracing'
import { trace } from '@opentelemetry/api'
import { printJSON, untilSignal } from './util.js'

const { values: flags } = parseArgs({
  options: {
    name: { type: 'string', default: 'traced.greeter' },
    topic: { type: 'string' },
    metrics: { type: 'boolean', default: false },
  },
})
const name = flags.name ?? 'traced.greeter'

/** The ids of the span the code runs in (the handler's server span, the subscriber's process span). */
function ids(): { trace_id: string; span_id: string } {
  const sc = trace.getActiveSpan()?.spanContext()
  return { trace_id: sc?.traceId ?? '', span_id: sc?.spanId ?? '' }
}

const tracing = await startTracing({ serviceName: name })
const service = await createService({
  name,
  metadata: { lang: 'ts' },
  telemetry: flags.metrics ? { metrics: prometheusMetrics() } : undefined,
})
service.handle(
  {
    async Hello(req: { name: string }) {
      return { greeting: `Hello ${req.name}`, ...ids() }
    },
    async Forward(req: { service?: string; endpoint?: string; name?: string }) {
      if (!req.service || !req.endpoint)
        throw errors.badRequest('greeter.forward', 'service and endpoint are required')
      const rsp = await service.client.call<{ greeting?: string }>(req.service, req.endpoint, {
        name: req.name,
      })
      return { greeting: rsp.greeting ?? '', ...ids(), downstream: rsp }
    },
  },
  { name: 'Greeter' },
)
if (flags.topic) {
  const topic = flags.topic
  service.subscribe(topic, (body, ctx) => printJSON({ topic, header: ctx.headers, body, ...ids() }))
}
await service.start()
const node = service.server.describe().nodes[0]
const metrics = flags.metrics ? service.server.healthAddress || service.server.address : ''
printJSON({ ready: true, id: node.id, address: node.address, metrics })
await untilSignal()
await service.stop()
await tracing.shutdown()
