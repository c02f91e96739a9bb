/**
 * `startTracing()`: one call that registers an OpenTelemetry SDK the standard way, for services
 * that do not bring their own. Core makes its spans whenever any SDK is registered; this is only
 * the short way to get one: the Node tracer provider (AsyncLocalStorage context, W3C trace context
 * and baggage propagation), a batch span processor and an OTLP exporter, every part configured by
 * the standard `OTEL_*` variables the SDK reads itself (`OTEL_EXPORTER_OTLP_ENDPOINT`,
 * `OTEL_TRACES_SAMPLER`, `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_RESOURCE_ATTRIBUTES`, ...).
 *
 * The SDK packages are optional peer dependencies, loaded on the first call:
 * `@opentelemetry/sdk-trace-node`, `@opentelemetry/exporter-trace-otlp-proto`,
 * `@opentelemetry/resources`.
 */
import { context, diag, propagation, trace } from '@opentelemetry/api'
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-node'

export interface TracingOptions {
  /** `service.name` of the spans, unless `OTEL_SERVICE_NAME` says otherwise. */
  serviceName?: string
  /**
   * Where spans go. Default from `OTEL_TRACES_EXPORTER`: `otlp` (the default: OTLP over
   * HTTP/protobuf to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`,
   * else `http://localhost:4318`), `console`, or `none` (spans are made and propagated, not sent).
   */
  exporter?: SpanExporter
  /** `batch` (default: spans are queued and sent in batches, `OTEL_BSP_*`) or `simple` (each span sent as it ends). */
  processor?: 'batch' | 'simple'
  /**
   * Where `OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER` and the OTLP endpoint
   * (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`) are read (default
   * `process.env`). The SDK reads its other variables (`OTEL_BSP_*`, `OTEL_TRACES_SAMPLER`,
   * `OTEL_RESOURCE_ATTRIBUTES`, ...) from `process.env` itself.
   */
  env?: Record<string, string | undefined>
}

/** The registered SDK. */
export interface Tracing {
  /** False when `OTEL_SDK_DISABLED=true` left everything off. */
  readonly enabled: boolean
  /** Send every span ended so far. */
  forceFlush(): Promise<void>
  /** Send what is left, then unregister the SDK (a later startTracing() may register another). */
  shutdown(): Promise<void>
}

const OFF: Tracing = { enabled: false, forceFlush: async () => {}, shutdown: async () => {} }

async function load<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T
  } catch (e) {
    throw new Error(
      `startTracing needs ${name} (an optional peer dependency of @micro-ts/telemetry): pnpm add ${name}`,
      { cause: e },
    )
  }
}

/** Register an OpenTelemetry SDK for this process (see the module comment). */
export async function startTracing(options: TracingOptions = {}): Promise<Tracing> {
  const env = options.env ?? process.env
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return OFF
  const node = await load<typeof import('@opentelemetry/sdk-trace-node')>('@opentelemetry/sdk-trace-node')
  const resources = await load<typeof import('@opentelemetry/resources')>('@opentelemetry/resources')
  const exporter = options.exporter ?? (await exporterFromEnv(env, node))
  const processors: SpanProcessor[] = []
  if (exporter) {
    processors.push(
      options.processor === 'simple'
        ? new node.SimpleSpanProcessor(exporter)
        : new node.BatchSpanProcessor(exporter),
    )
  }
  // The variables win over the code: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (envDetector).
  const fromEnv = resources.detectResources({ detectors: [resources.envDetector] })
  const resource = resources
    .defaultResource()
    .merge(
      resources.resourceFromAttributes(options.serviceName ? { 'service.name': options.serviceName } : {}),
    )
    .merge(fromEnv)
  const provider = new node.NodeTracerProvider({ resource, spanProcessors: processors })
  provider.register()
  return {
    enabled: true,
    forceFlush: () => provider.forceFlush(),
    async shutdown() {
      try {
        await provider.shutdown()
      } finally {
        trace.disable()
        context.disable()
        propagation.disable()
      }
    },
  }
}

async function exporterFromEnv(
  env: Record<string, string | undefined>,
  node: typeof import('@opentelemetry/sdk-trace-node'),
): Promise<SpanExporter | undefined> {
  const kinds = (env.OTEL_TRACES_EXPORTER ?? 'otlp')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean)
  if (kinds.includes('none')) return undefined
  if (kinds.includes('console')) return new node.ConsoleSpanExporter()
  if (kinds.some((k) => k !== 'otlp'))
    diag.warn(`startTracing: OTEL_TRACES_EXPORTER=${kinds.join(',')}: using otlp`)
  const otlp = await load<typeof import('@opentelemetry/exporter-trace-otlp-proto')>(
    '@opentelemetry/exporter-trace-otlp-proto',
  )
  // Without a url the exporter reads the same variables from process.env; given, they come from `env`.
  return new otlp.OTLPTraceExporter({ url: otlpTracesUrl(env) })
}

/** The traces endpoint the OTLP specification derives from the variables, or undefined for the default. */
function otlpTracesUrl(env: Record<string, string | undefined>): string | undefined {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()
  if (traces) return traces
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()
  if (!base) return undefined
  return `${base.replace(/\/+$/, '')}/v1/traces`
}
