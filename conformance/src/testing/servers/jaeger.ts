/**
 * A private Jaeger (v2, the collector-based binary scripts/servers/jaeger.sh builds) on free
 * loopback ports: OTLP in over HTTP and gRPC, traces kept in memory, read back through the query
 * API (`/api/traces`), the way a person reads them in Jaeger's UI.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { eventually } from '../../util.js'
import { freePort, type LaunchSpec, PrivateServer, type PrivateServerOptions } from '../server.js'
import { buildHint, cachedBinary } from './cached-binary.js'

export interface JaegerServerOptions extends PrivateServerOptions {
  /** The jaeger binary (default: see cachedBinary: MICRO_JAEGER_BIN, the script's cache, PATH). */
  binary?: string
}

/** One span as the query API returns it (the fields tests read). */
export interface JaegerSpan {
  traceID: string
  spanID: string
  operationName: string
  references: { refType: 'CHILD_OF' | 'FOLLOWS_FROM'; traceID: string; spanID: string }[]
  processID: string
  startTime: number
  duration: number
  tags: { key: string; type: string; value: unknown }[]
  logs: { timestamp: number; fields: { key: string; value: unknown }[] }[]
}

export interface JaegerTrace {
  traceID: string
  spans: JaegerSpan[]
  processes: Record<string, { serviceName: string; tags: { key: string; value: unknown }[] }>
}

export class JaegerServer extends PrivateServer {
  readonly name = 'jaeger'
  private ports?: { otlpHttp: number; otlpGrpc: number; queryGrpc: number }

  constructor(private readonly options: JaegerServerOptions = {}) {
    super(options)
  }

  /** Start one; stop it with `stop()` (or `await using`). */
  static start(options: JaegerServerOptions = {}): Promise<JaegerServer> {
    return new JaegerServer(options).start()
  }

  /** The binary's path, or undefined when it was never built (see `missing()`). */
  static binary(given?: string): string | undefined {
    return cachedBinary('jaeger', given)
  }

  /** Why no Jaeger can start here, or undefined when one can. */
  static missing(given?: string): string | undefined {
    return JaegerServer.binary(given) ? undefined : buildHint('jaeger')
  }

  /** The query API and UI: `http://127.0.0.1:<port>` (the server's `port`). */
  get queryUrl(): string {
    return `http://${this.address}`
  }

  /** What `OTEL_EXPORTER_OTLP_ENDPOINT` takes for OTLP over HTTP: `http://127.0.0.1:<port>`. */
  get otlpHttpEndpoint(): string {
    return `http://${this.host}:${this.started().otlpHttp}`
  }

  /** OTLP over gRPC, `127.0.0.1:<port>` (go-micro's otlptracegrpc exporter dials this). */
  get otlpGrpcAddress(): string {
    return `${this.host}:${this.started().otlpGrpc}`
  }

  /** The service names Jaeger has spans from. */
  async services(): Promise<string[]> {
    return ((await this.get<{ data: string[] | null }>('/api/services')).data ?? []).sort()
  }

  /** One trace by id (32 hex digits), or undefined while Jaeger has none of its spans. */
  async trace(traceId: string): Promise<JaegerTrace | undefined> {
    const rsp = await fetch(`${this.queryUrl}/api/traces/${traceId}`, { signal: AbortSignal.timeout(5000) })
    if (rsp.status === 404) return undefined
    if (!rsp.ok) throw new Error(`jaeger: GET /api/traces/${traceId}: ${rsp.status} ${await rsp.text()}`)
    return ((await rsp.json()) as { data: JaegerTrace[] }).data[0]
  }

  /**
   * The trace once Jaeger holds at least `spans` of its spans (exporters send in batches, and
   * Jaeger stores them a little later); throws after `timeoutMs` with what it had.
   */
  async waitForTrace(traceId: string, spans: number, timeoutMs = 30_000): Promise<JaegerTrace> {
    return eventually(async () => {
      const t = await this.trace(traceId)
      const have = t?.spans.length ?? 0
      if (!t || have < spans) throw new Error(`jaeger: trace ${traceId} has ${have} of ${spans} spans`)
      return t
    }, timeoutMs)
  }

  /** The latest traces with a span from `service` (at most `limit`). */
  async traces(service: string, limit = 20): Promise<JaegerTrace[]> {
    const q = new URLSearchParams({ service, limit: String(limit), lookback: '1h' })
    return (await this.get<{ data: JaegerTrace[] | null }>(`/api/traces?${q}`)).data ?? []
  }

  protected override async prepare(): Promise<void> {
    this.ports = {
      otlpHttp: await freePort(this.host),
      otlpGrpc: await freePort(this.host),
      queryGrpc: await freePort(this.host),
    }
  }

  protected launch(): LaunchSpec {
    const binary = JaegerServer.binary(this.options.binary)
    if (!binary) throw new Error(buildHint('jaeger'))
    const p = this.started()
    // OTLP in, the query API out, memory storage, everything on 127.0.0.1; no other receiver,
    // extension or metrics port of the all-in-one default, so parallel test files never collide.
    const config = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: ${this.host}:${this.port}
    grpc:
      endpoint: ${this.host}:${p.queryGrpc}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${this.host}:${p.otlpGrpc}
      http:
        endpoint: ${this.host}:${p.otlpHttp}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`
    const file = path.join(this.dir, 'jaeger.yaml')
    writeFileSync(file, config)
    return { command: binary, args: ['--config', `file:${file}`] }
  }

  protected async ready(): Promise<boolean> {
    const rsp = await fetch(`${this.queryUrl}/api/services`, { signal: AbortSignal.timeout(1000) })
    return rsp.ok
  }

  private started(): { otlpHttp: number; otlpGrpc: number; queryGrpc: number } {
    if (!this.ports) throw new Error('jaeger: not started')
    return this.ports
  }

  private async get<T>(pathAndQuery: string): Promise<T> {
    const rsp = await fetch(`${this.queryUrl}${pathAndQuery}`, { signal: AbortSignal.timeout(5000) })
    if (!rsp.ok) throw new Error(`jaeger: GET ${pathAndQuery}: ${rsp.status} ${await rsp.text()}`)
    return (await rsp.json()) as T
  }
}

/** The service that wrote `span`. */
export function spanService(trace: JaegerTrace, span: JaegerSpan): string {
  return trace.processes[span.processID]?.serviceName ?? ''
}

/** The span's parent in the same trace (its CHILD_OF reference), or undefined for a root. */
export function parentSpan(trace: JaegerTrace, span: JaegerSpan): JaegerSpan | undefined {
  const ref = span.references.find((r) => r.refType === 'CHILD_OF' && r.traceID === trace.traceID)
  return ref && trace.spans.find((s) => s.spanID === ref.spanID)
}

/**
 * The spans of `trace` with this operation name and, when given, span kind (`client`, `server`,
 * `producer`, `consumer`, as Jaeger's `span.kind` tag says) and service.
 */
export function findSpans(
  trace: JaegerTrace,
  operation: string,
  kind?: string,
  service?: string,
): JaegerSpan[] {
  return trace.spans.filter(
    (s) =>
      s.operationName === operation &&
      (kind === undefined || spanTag(s, 'span.kind') === kind) &&
      (service === undefined || spanService(trace, s) === service),
  )
}

/** `service:operation:kind` of every span, for an assertion's message. */
export function describeSpans(trace: JaegerTrace): string {
  return trace.spans
    .map((s) => `${spanService(trace, s)}:${s.operationName}:${spanTag(s, 'span.kind')}`)
    .join(', ')
}

/** A tag's value on `span`, or undefined. */
export function spanTag(span: JaegerSpan, key: string): unknown {
  return span.tags.find((t) => t.key === key)?.value
}
