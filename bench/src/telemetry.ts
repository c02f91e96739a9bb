/**
 * The tracing and metrics rows: what `ours-<transport>-tracing` and `ours-<transport>-metrics`
 * turn on in both the server and the client process, and the OTLP endpoint their spans go to.
 *
 * Tracing is a real SDK setup (`startTracing()`: Node tracer provider, batch span processor,
 * OTLP/protobuf exporter, every span sampled), exporting to a sink in the orchestrator that
 * reads each request whole and answers 200, so the price measured is the spans, their batching
 * and their encoding, not a collector's CPU on the same two cores.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { TelemetryOptions } from '@micro-ts/core'

export type TelemetryMode = 'tracing' | 'metrics'

/** The service's telemetry options for `mode` (none without one), and how to stop it. */
export async function benchTelemetry(
  mode: TelemetryMode | undefined,
  otlpUrl: string | undefined,
  serviceName: string,
): Promise<{ options?: TelemetryOptions; close(): Promise<void> }> {
  // Loaded only when on: the plain `ours-*` contenders load none of it (their memory and start-up).
  if (mode === 'metrics') {
    const { prometheusMetrics } = await import('@micro-ts/telemetry')
    return { options: { metrics: prometheusMetrics() }, close: async () => {} }
  }
  if (mode !== 'tracing') return { close: async () => {} }
  if (!otlpUrl) throw new Error('tracing rows need the OTLP sink URL')
  const { startTracing } = await import('@micro-ts/telemetry/tracing')
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto')
  const tracing = await startTracing({
    serviceName,
    exporter: new OTLPTraceExporter({ url: otlpUrl }),
    env: { OTEL_TRACES_SAMPLER: 'always_on' },
  })
  return { options: { tracing: true }, close: () => tracing.shutdown() }
}

let sink: Promise<{ url: string; stats: { requests: number; bytes: number } }> | undefined

/** The orchestrator's OTLP/HTTP sink (started on first use, never keeps the process alive). */
export function otlpSink(): Promise<{ url: string; stats: { requests: number; bytes: number } }> {
  sink ??= new Promise((resolve, reject) => {
    const stats = { requests: 0, bytes: 0 }
    const server = http.createServer((req, res) => {
      req.on('data', (chunk: Buffer) => {
        stats.bytes += chunk.length
      })
      req.on('end', () => {
        stats.requests++
        // An empty ExportTraceServiceResponse: zero bytes of protobuf.
        res.writeHead(200, { 'Content-Type': 'application/x-protobuf', 'Content-Length': 0 }).end()
      })
    })
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.unref()
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, stats })
    })
  })
  return sink
}
