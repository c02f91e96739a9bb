/**
 * Observability hooks shared by the client, the server and the logger.
 *
 * Tracing is written against `@opentelemetry/api` only: the SDK (exporter, sampler, resource) is
 * the application's choice, configured the standard way (`OTEL_*` variables). Until an SDK
 * registers a tracer provider every check below answers "off" after a property read or two, so
 * a service that does not trace pays next to nothing; once one is registered the client, server,
 * publish and subscribe paths make spans and carry the W3C trace context in their headers.
 *
 * Metrics are a `MetricsRecorder` the service is given (`@micro-ts/telemetry` implements it with
 * prom-client): core only says what happened, with the numbers, and serves what it renders at
 * `GET /metrics`.
 */
import {
  type Attributes,
  type Context,
  context,
  isSpanContextValid,
  ProxyTracerProvider,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api'
import type { MicroError } from './errors.js'

/** The instrumentation scope of every span core makes. */
export const TRACER_NAME = '@micro-ts/core'

/**
 * What a service reports for metrics. Every method is called on the request path, so an
 * implementation must be quick and must not throw. Durations are seconds; `code` is the
 * MicroError code of the answer (200 for success).
 */
export interface MetricsRecorder {
  /** A request to `endpoint` of `service` (this server) started; `endpoint` is `unknown` when the server has none by that name. */
  serverStarted(service: string, endpoint: string): void
  serverFinished(service: string, endpoint: string, code: number, seconds: number): void
  /** A call to `endpoint` of the remote `service` started (retries included until it settles). */
  clientStarted(service: string, endpoint: string): void
  clientFinished(service: string, endpoint: string, code: number, seconds: number): void
  /** A publish to `topic` settled. */
  published(topic: string, code: number, seconds: number): void
  /** A subscriber of `topic` (in `queue`, '' for none) handled a message. */
  delivered(topic: string, queue: string, code: number, seconds: number): void
  /** Told once which service it reports for (its name, and its selector for cache figures). */
  bind?(service: MetricsSubject): void
  /** The body of `GET /metrics`. */
  scrape(): Promise<ScrapeResult>
}

/** What a recorder may read at scrape time about the service it reports for. */
export interface MetricsSubject {
  name: string
  /** Registry cache figures, when the selector keeps a cache that counts them. */
  cacheStats?(): { services: number; nodes: number; watchRestarts: number } | undefined
}

export interface ScrapeResult {
  contentType: string
  body: string
}

/** The provider that stands in while no SDK is registered (the API's own no-op). */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate()
let cached: { provider: TracerProvider; tracer: Tracer } | undefined

/**
 * The tracer to use now, or undefined while no SDK is registered. Asked per call rather than
 * once, so an SDK registered after the service was made (or replaced in tests) is used.
 */
export function activeTracer(): Tracer | undefined {
  let provider: TracerProvider = trace.getTracerProvider()
  if (provider instanceof ProxyTracerProvider) provider = provider.getDelegate()
  if (provider === NOOP_PROVIDER) return undefined
  if (cached?.provider !== provider) cached = { provider, tracer: provider.getTracer(TRACER_NAME) }
  return cached.tracer
}

/** `OTEL_SDK_DISABLED=true` turns our spans off too, whatever SDK was registered. */
export function tracingDisabled(env: Record<string, string | undefined>): boolean {
  return env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true'
}

/** The RPC system name on every RPC span (the protocol go-micro's RPC speaks). */
const RPC_SYSTEM = 'go-micro'

/** `host:port` parsed for server.address / server.port. */
interface Peer {
  host: string
  port?: number
}

/**
 * Parsed peers by address: a client calls the same few nodes over and over. Bounded: emptied
 * when full, so a stream of new addresses costs a parse each, never memory.
 */
const peers = new Map<string, Peer>()
const MAX_PEERS = 1024

function peerOf(address: string): Peer {
  let peer = peers.get(address)
  if (peer) return peer
  const i = address.lastIndexOf(':')
  if (i < 0) peer = { host: address }
  else {
    const port = Number(address.slice(i + 1))
    const host = unbracket(address, 0, i)
    peer = Number.isInteger(port) ? { host, port } : { host }
  }
  if (peers.size >= MAX_PEERS) peers.clear()
  peers.set(address, peer)
  return peer
}

/** `s.slice(start, end)` without one leading `[` and one trailing `]` (an IPv6 host). */
function unbracket(s: string, start: number, end: number): string {
  if (start < end && s.charCodeAt(start) === 0x5b) start++
  if (start < end && s.charCodeAt(end - 1) === 0x5d) end--
  return s.slice(start, end)
}

/** A peer's `host:port` (as a transport gives it) without the port and brackets: `network.peer.address`. */
function peerAddress(remote: string): string {
  let end = remote.length
  let i = end - 1
  while (i >= 0 && remote.charCodeAt(i) >= 0x30 && remote.charCodeAt(i) <= 0x39) i--
  if (i >= 0 && i < end - 1 && remote.charCodeAt(i) === 0x3a) end = i
  return unbracket(remote, 0, end)
}

function setServerAttributes(attributes: Attributes, address: string): void {
  const peer = peerOf(address)
  attributes['server.address'] = peer.host
  if (peer.port !== undefined) attributes['server.port'] = peer.port
}

/**
 * A client span for one call (retries included), child of the caller's active span, and the
 * context to inject into the request headers (so the server's span is the child of this one).
 * Named after OTel's RPC conventions: `rpc.method` is `<service>/<endpoint>`.
 */
export function startClientSpan(
  tracer: Tracer,
  service: string,
  endpoint: string,
  transport: string,
  address?: string,
): { span: Span; ctx: Context } {
  const parent = context.active()
  const method = `${service}/${endpoint}`
  const attributes: Attributes = {
    'rpc.system.name': RPC_SYSTEM,
    'rpc.method': method,
    'micro.service': service,
    'micro.endpoint': endpoint,
    'micro.transport': transport,
  }
  if (address) setServerAttributes(attributes, address)
  const span = tracer.startSpan(method, { kind: SpanKind.CLIENT, attributes }, parent)
  return { span, ctx: trace.setSpan(parent, span) }
}

/** Where the call went, once the selector picked a node. */
export function setPeer(span: Span, address: string): void {
  const peer = peerOf(address)
  span.setAttribute('server.address', peer.host)
  if (peer.port !== undefined) span.setAttribute('server.port', peer.port)
}

/**
 * A server span for one request, child of the caller's span when the headers (lower-case names)
 * carry a trace context. `known` says whether the endpoint exists: an unknown one is `_OTHER`
 * (what was asked kept in `rpc.method_original`), so garbage requests do not make new span names.
 */
export function startServerSpan(
  tracer: Tracer,
  service: string,
  endpoint: string | undefined,
  known: boolean,
  headers: Record<string, string>,
  transport: string,
  remote?: string,
): { span: Span; ctx: Context } {
  const parent = propagation.extract(ROOT_CONTEXT, headers)
  const method = known ? `${service}/${endpoint}` : '_OTHER'
  const attributes: Attributes = {
    'rpc.system.name': RPC_SYSTEM,
    'rpc.method': method,
    'micro.service': service,
    'micro.transport': transport,
  }
  if (known) attributes['micro.endpoint'] = endpoint
  else if (endpoint !== undefined) attributes['rpc.method_original'] = `${service}/${endpoint}`
  if (remote) attributes['network.peer.address'] = peerAddress(remote)
  const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes }, parent)
  return { span, ctx: trace.setSpan(parent, span) }
}

/** A producer span for one publish, child of the active span; inject `ctx` into the message headers. */
export function startPublishSpan(
  tracer: Tracer,
  topic: string,
  broker: string,
  id: string,
  bodySize: number,
): { span: Span; ctx: Context } {
  const parent = context.active()
  const span = tracer.startSpan(
    `publish ${topic}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': broker,
        'messaging.operation.name': 'publish',
        'messaging.operation.type': 'send',
        'messaging.destination.name': topic,
        'messaging.message.id': id,
        'messaging.message.body.size': bodySize,
      },
    },
    parent,
  )
  return { span, ctx: trace.setSpan(parent, span) }
}

/** A consumer span for one delivery, child of the publisher's span when the headers carry it. */
export function startProcessSpan(
  tracer: Tracer,
  topic: string,
  queue: string | undefined,
  broker: string,
  headers: Record<string, string>,
  bodySize: number,
): { span: Span; ctx: Context } {
  const parent = propagation.extract(ROOT_CONTEXT, headers)
  const attributes: Attributes = {
    'messaging.system': broker,
    'messaging.operation.name': 'process',
    'messaging.operation.type': 'process',
    'messaging.destination.name': topic,
    'messaging.message.body.size': bodySize,
  }
  const id = headers['micro-id']
  if (id) attributes['messaging.message.id'] = id
  if (queue) attributes['messaging.consumer.group.name'] = queue
  const span = tracer.startSpan(`process ${topic}`, { kind: SpanKind.CONSUMER, attributes }, parent)
  return { span, ctx: trace.setSpan(parent, span) }
}

/** Write the trace context of `ctx` into `headers` (W3C `traceparent`/`tracestate` with the SDK's default propagator). */
export function injectTrace(ctx: Context, headers: Record<string, string>): void {
  propagation.inject(ctx, headers)
}

/**
 * Record a failure on `span`: the MicroError's code as `error.type` and
 * `rpc.response.status_code`, its id and code as `micro.error.*`, and the ERROR status. A server
 * span marks only 5xx as errors (the request was the caller's mistake otherwise, as OTel's HTTP
 * and gRPC server conventions do); a client, producer or consumer span marks every failure.
 */
export function recordMicroError(span: Span, err: MicroError, server = false): void {
  const code = String(err.code)
  span.setAttributes({
    'error.type': code,
    'rpc.response.status_code': code,
    'micro.error.code': err.code,
    'micro.error.id': err.id,
  })
  if (!server || err.code >= 500 || err.code === 0)
    span.setStatus({ code: SpanStatusCode.ERROR, message: err.detail })
}

/** A successful answer on an RPC span. */
export function recordOk(span: Span): void {
  span.setAttribute('rpc.response.status_code', '200')
}

/** Run `fn` with `ctx` as the active context (nested calls and log lines see its span). */
export function withContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn)
}

/**
 * The active span's ids for a log line: `trace_id`, `span_id` and `trace_flags`, the names
 * OpenTelemetry's log data model (and its pino instrumentation) use, so a log backend links the
 * line to its trace. Empty outside a span, and whenever no SDK is registered.
 */
export function traceFields(): Record<string, string> {
  // A fresh object each time: pino merges the log call's own fields into what mixin returns.
  const span = trace.getSpan(context.active())
  if (!span) return {}
  const sc = span.spanContext()
  if (!isSpanContextValid(sc)) return {}
  return { trace_id: sc.traceId, span_id: sc.spanId, trace_flags: `0${sc.traceFlags.toString(16)}`.slice(-2) }
}

/** How a client or server observes its work. */
export interface TelemetryOptions {
  /** Make spans while an OpenTelemetry SDK is registered (default true). */
  tracing?: boolean
  /** Where request, publish and delivery figures go (none by default). */
  metrics?: MetricsRecorder
}
