/**
 * The RPC server: transport → router → wrappers → handler, and back. It registers itself with
 * a TTL and refreshes it, serves health endpoints, and shuts down gracefully:
 * deregister → stop accepting → drain in-flight → unsubscribe.
 */
import type { Span, Tracer } from '@opentelemetry/api'
import type { Broker, BrokerEvent, Subscription } from '../broker/types.js'
import { codecFor } from '../codec/index.js'
import type { Codec } from '../codec/types.js'
import { MicroError } from '../errors.js'
import type { Logger } from '../logger.js'
import { silentLogger } from '../logger.js'
import type { Endpoint, Node, Registry, Service } from '../registry/types.js'
import {
  activeTracer,
  type MetricsRecorder,
  recordMicroError,
  recordOk,
  startProcessSpan,
  startServerSpan,
  type TelemetryOptions,
  withContext,
} from '../telemetry.js'
import type {
  HttpResponse,
  Listener,
  RequestContext,
  ServerStream,
  Transport,
  TransportMessage,
} from '../transport/types.js'
import { abortReason, LazyAbort } from '../util/abort.js'
import { advertiseAddress } from '../util/address.js'
import { getHeader, lowerCaseHeaders, parseTimeoutHeader } from '../util/headers.js'
import { uuid } from '../util/id.js'
import { sleep } from '../util/time.js'
import { describeEndpoint, extractEndpoints, type RegisteredEndpoint } from './handler.js'
import { type HealthCheck, HealthChecks, healthReport, healthResponse } from './health.js'
import { type HealthListener, listenHealth } from './health-listener.js'
import type {
  HandleOptions,
  HandlerContext,
  HandlerFunc,
  HandlerWrapper,
  RpcServerStream,
  ServerRequest,
  SubscribeHandlerOptions,
  SubscriberFunc,
  SubscriberWrapper,
} from './types.js'

export interface RpcServerOptions {
  name: string
  version?: string
  /** Instance id; the registry node id is `<name>-<id>`. */
  id?: string
  /** Bind address (default `:0`, every interface, a free port). */
  address?: string
  /** Address to publish in the registry instead of the bound one. */
  advertise?: string
  /** Service metadata. */
  metadata?: Record<string, string>
  transport: Transport
  registry: Registry
  broker?: Broker
  /** Registration lease, ms (90 s). */
  registerTtl?: number
  /** Re-registration interval, ms (30 s). */
  registerInterval?: number
  wrappers?: HandlerWrapper[]
  subscriberWrappers?: SubscriberWrapper[]
  codecs?: (contentType: string) => Codec
  logger?: Logger
  /** Largest request body, bytes (10 MiB). */
  maxBodySize?: number
  /** How long stop() waits for in-flight requests, ms (30 s). */
  drainTimeout?: number
  /**
   * Serve `/health`, `/health/live`, `/health/ready` on a listener of their own at this
   * `host:port` too (for transports that do not speak HTTP). Off when absent.
   */
  healthAddress?: string
  /** Longest a health check may take before it counts as down, ms (1 s). */
  healthCheckTimeout?: number
  /**
   * Spans (on while an OpenTelemetry SDK is registered) and a metrics recorder, whose text
   * `GET /metrics` serves beside the health paths.
   */
  telemetry?: TelemetryOptions
}

export type ServerState = 'idle' | 'starting' | 'running' | 'draining' | 'stopped'

interface SubscriberEntry {
  topic: string
  fn: SubscriberFunc
  options: SubscribeHandlerOptions
  endpoint: Endpoint
  subscription?: Subscription
}

const ERROR_ID = 'go.micro.server'
const DRAINING = () => new MicroError(ERROR_ID, 503, 'server is shutting down')

export class RpcServer {
  readonly name: string
  readonly version: string
  readonly id: string
  private readonly opts: RpcServerOptions
  private readonly logger: Logger
  private readonly codecs: (contentType: string) => Codec
  private readonly endpoints = new Map<string, RegisteredEndpoint>()
  private readonly subscribers: SubscriberEntry[] = []
  private readonly health: HealthChecks
  private healthListener?: HealthListener
  private listener?: Listener
  private refreshTimer?: NodeJS.Timeout
  private registered = false
  private _state: ServerState = 'idle'
  /** Fires when stop() gives up waiting for in-flight work. */
  private readonly stopping = new LazyAbort()
  /** Each endpoint's handler wrapped in the server's wrappers, built on first call. */
  private readonly chains = new Map<RegisteredEndpoint, HandlerFunc>()

  constructor(options: RpcServerOptions) {
    if (!options.name) throw new TypeError('server: a name is required')
    this.opts = options
    this.name = options.name
    this.version = options.version ?? 'latest'
    this.id = options.id ?? uuid()
    this.logger = options.logger ?? silentLogger
    this.codecs = options.codecs ?? codecFor
    this.health = new HealthChecks({ timeout: options.healthCheckTimeout, logger: this.logger })
  }

  get state(): ServerState {
    return this._state
  }

  /** The address the server listens on (after start). */
  get address(): string {
    return this.listener?.address ?? ''
  }

  /** Where the health listener of its own listens (after start), '' without one. */
  get healthAddress(): string {
    return this.healthListener?.address ?? ''
  }

  /**
   * Serve `handler`'s methods as `<Name>.<method>`: those whose name starts with an upper-case
   * letter (go-micro's exported methods), or exactly `options.methods`. See HandleOptions.
   */
  handle(handler: object, options: HandleOptions = {}): this {
    const eps = extractEndpoints(handler, options)
    for (const ep of eps) {
      if (this.endpoints.has(ep.name))
        throw new TypeError(`handle(): endpoint ${ep.name} is already registered`)
    }
    for (const ep of eps) this.endpoints.set(ep.name, ep)
    if (this.registered) void this.register()
    return this
  }

  /** Handle messages published to `topic`; with `queue`, one member of the group gets each message. */
  subscribe<T = unknown>(
    topic: string,
    fn: (message: T, ctx: { topic: string; headers: Record<string, string> }) => unknown,
    options: SubscribeHandlerOptions = {},
  ): this {
    if (!topic) throw new TypeError('subscribe(): a topic is required')
    const entry: SubscriberEntry = {
      topic,
      options,
      fn: async (msg, ctx) => {
        await fn(msg.body as T, ctx)
      },
      // go-micro describes subscribers as endpoints carrying topic/subscriber metadata.
      endpoint: {
        name: fn.name || 'Func',
        metadata: { topic, subscriber: 'true', ...(options.queue ? { queue: options.queue } : {}) },
      },
    }
    this.subscribers.push(entry)
    if (this._state === 'running') void this.startSubscriber(entry)
    return this
  }

  /** Add (or replace) a check of `/health` and `/health/ready`; it gets a signal for its time limit. */
  addHealthCheck(name: string, check: HealthCheck): this {
    this.health.add(name, check)
    return this
  }

  /** The registry record this server publishes. */
  describe(): Service {
    const advertised = advertiseAddress(this.opts.advertise ?? this.address)
    const node: Node = {
      id: `${this.name}-${this.id}`,
      address: advertised,
      // go-micro puts the server's metadata on its node (mDNS carries node metadata only, and
      // label filters read it there); we also keep it on the service for TypeScript readers.
      metadata: {
        ...this.opts.metadata,
        transport: this.opts.transport.name,
        broker: this.opts.broker?.name ?? '',
        server: 'mucp',
        registry: this.opts.registry.name,
        protocol: 'mucp',
      },
    }
    const endpoints: Endpoint[] = []
    for (const ep of this.endpoints.values()) if (!ep.internal) endpoints.push(describeEndpoint(ep))
    for (const s of this.subscribers) endpoints.push(structuredClone(s.endpoint))
    return {
      name: this.name,
      version: this.version,
      metadata: { ...this.opts.metadata },
      endpoints,
      nodes: [node],
    }
  }

  async start(): Promise<void> {
    if (this._state !== 'idle') throw new Error(`server: cannot start from state ${this._state}`)
    this._state = 'starting'
    this.listener = await this.opts.transport.listen(
      this.opts.address ?? ':0',
      {
        request: (msg, ctx) => this.serveRequest(msg, ctx),
        stream: (stream, ctx) => this.serveStream(stream, ctx),
        get: (path) => this.serveGet(path),
      },
      { maxBodySize: this.opts.maxBodySize },
    )
    if (this.opts.healthAddress) {
      try {
        this.healthListener = await listenHealth(this.opts.healthAddress, (path) => this.serveGet(path))
      } catch (e) {
        await this.listener.close(0)
        this._state = 'idle'
        throw new MicroError(
          ERROR_ID,
          500,
          `health listener on ${this.opts.healthAddress}: ${(e as Error).message}`,
          undefined,
          { cause: e },
        )
      }
      this.logger.info(
        {
          address: this.healthListener.address,
          paths: [
            '/health',
            '/health/live',
            '/health/ready',
            ...(this.opts.telemetry?.metrics ? ['/metrics'] : []),
          ],
        },
        `health endpoints on http://${this.healthListener.address}/health`,
      )
    }
    if (this.opts.broker && this.subscribers.length > 0) {
      await this.opts.broker.connect()
      for (const s of this.subscribers) await this.startSubscriber(s)
    }
    await this.register()
    const interval = this.opts.registerInterval ?? 30_000
    if (interval > 0) {
      this.refreshTimer = setInterval(() => {
        this.register().catch((e) =>
          this.logger.error({ registry: this.opts.registry.name, err: e }, 'registry refresh failed'),
        )
      }, interval)
      this.refreshTimer.unref()
    }
    this._state = 'running'
    this.logger.info(
      {
        service: this.name,
        address: this.address,
        id: this.id,
        endpoints: [...this.endpoints.keys()],
        topics: this.subscribers.map((s) => s.topic),
      },
      'server started',
    )
  }

  /** deregister → stop accepting → drain in-flight → unsubscribe. */
  async stop(): Promise<void> {
    if (this._state === 'stopped' || this._state === 'draining') return
    const wasStarted = this._state !== 'idle'
    this._state = 'draining'
    clearInterval(this.refreshTimer)
    if (wasStarted) {
      try {
        await this.opts.registry.deregister(this.describe())
      } catch (e) {
        this.logger.error({ registry: this.opts.registry.name, err: e }, 'deregister failed')
      }
      this.registered = false
      await this.listener?.close(this.opts.drainTimeout ?? 30_000)
      // Anything still running past the drain timeout is told to give up.
      this.stopping.abort(DRAINING())
      for (const s of this.subscribers) {
        try {
          await s.subscription?.unsubscribe()
        } catch (e) {
          this.logger.warn({ topic: s.topic, err: (e as Error).message }, 'unsubscribe failed')
        }
        s.subscription = undefined
      }
    }
    // Probes see "draining" until the very end.
    await this.healthListener?.close()
    this.healthListener = undefined
    this._state = 'stopped'
    this.logger.info({ service: this.name }, 'server stopped')
  }

  /** Register with the TTL; retried 3 times with backoff like go-micro. */
  private async register(): Promise<void> {
    const ttl = this.opts.registerTtl ?? 90_000
    let lastError: unknown
    for (let attempt = 0; attempt < 3; attempt++) {
      if (attempt > 0) await sleep(attempt * 200)
      try {
        await this.opts.registry.register(this.describe(), { ttl })
        this.registered = true
        return
      } catch (e) {
        lastError = e
      }
    }
    throw MicroError.from(lastError, ERROR_ID)
  }

  private async startSubscriber(entry: SubscriberEntry): Promise<void> {
    const broker = this.opts.broker
    if (!broker) throw new MicroError(ERROR_ID, 500, `subscribe(${entry.topic}): no broker configured`)
    let fn = entry.fn
    const wrappers = this.opts.subscriberWrappers ?? []
    for (let i = wrappers.length - 1; i >= 0; i--) fn = wrappers[i](fn)
    entry.subscription = await broker.subscribe(
      entry.topic,
      async (event: BrokerEvent) => {
        const headers = lowerCaseHeaders(event.message.headers)
        const deliver = async () => {
          const contentType = getHeader(headers, 'content-type') ?? 'application/json'
          const body = this.codecs(contentType).decode(event.message.body, entry.options.type)
          await fn({ topic: event.topic, headers, contentType, body }, { topic: event.topic, headers })
        }
        const tracer = this.opts.telemetry?.tracing === false ? undefined : activeTracer()
        const metrics = this.opts.telemetry?.metrics
        if (!tracer && !metrics) return deliver()
        return this.observeDelivery(event, entry, headers, deliver, tracer, metrics)
      },
      { queue: entry.options.queue },
    )
  }

  /** A delivery with its consumer span (child of the publisher's) and its metrics. */
  private async observeDelivery(
    event: BrokerEvent,
    entry: SubscriberEntry,
    headers: Record<string, string>,
    deliver: () => Promise<void>,
    tracer: Tracer | undefined,
    metrics: MetricsRecorder | undefined,
  ): Promise<void> {
    const started = performance.now()
    const queue = entry.options.queue ?? ''
    const broker = this.opts.broker?.name ?? ''
    const traced = tracer
      ? startProcessSpan(tracer, event.topic, queue, broker, headers, event.message.body.byteLength)
      : undefined
    try {
      await (traced ? withContext(traced.ctx, deliver) : deliver())
      metrics?.delivered(event.topic, queue, 200, (performance.now() - started) / 1000)
    } catch (e) {
      const err = MicroError.from(e, ERROR_ID)
      if (traced) recordMicroError(traced.span, err)
      metrics?.delivered(event.topic, queue, err.code, (performance.now() - started) / 1000)
      throw e
    } finally {
      traced?.span.end()
    }
  }

  private lookup(headers: Record<string, string>): RegisteredEndpoint {
    const service = getHeader(headers, 'micro-service')
    const endpoint = getHeader(headers, 'micro-endpoint') ?? getHeader(headers, 'micro-method')
    if (service && service !== this.name) {
      throw new MicroError(ERROR_ID, 404, `unknown service ${service} (this is ${this.name})`)
    }
    if (!endpoint) {
      throw new MicroError(
        ERROR_ID,
        400,
        'missing Micro-Endpoint header (e.g. Micro-Endpoint: Greeter.Hello)',
      )
    }
    const ep = this.endpoints.get(endpoint)
    if (!ep) throw new MicroError(ERROR_ID, 404, `unknown endpoint ${endpoint} on service ${this.name}`)
    return ep
  }

  private context(
    headers: Record<string, string>,
    ep: RegisteredEndpoint,
    ctx: RequestContext,
  ): HandlerContext {
    return new RequestScope(this.name, ep.name, headers, ctx, this.stopping)
  }

  private serveRequest(message: TransportMessage, rctx: RequestContext): Promise<TransportMessage> {
    const tracer = this.opts.telemetry?.tracing === false ? undefined : activeTracer()
    const metrics = this.opts.telemetry?.metrics
    if (!tracer && !metrics) return this.answer(message, rctx)
    return this.observeRequest(message, rctx, tracer, metrics)
  }

  /**
   * A request with its server span (child of the caller's when the headers carry a trace
   * context; the handler runs inside it, so its calls and log lines are part of the trace) and
   * its metrics, labelled `unknown` for an endpoint the server does not have.
   */
  private async observeRequest(
    message: TransportMessage,
    rctx: RequestContext,
    tracer: Tracer | undefined,
    metrics: MetricsRecorder | undefined,
  ): Promise<TransportMessage> {
    const headers = lowerCaseHeaders(message.headers)
    const asked = getHeader(headers, 'micro-endpoint') ?? getHeader(headers, 'micro-method')
    const known = asked !== undefined && this.endpoints.has(asked)
    const endpoint = known ? asked : 'unknown'
    const started = performance.now()
    metrics?.serverStarted(this.name, endpoint)
    const traced = tracer
      ? startServerSpan(tracer, this.name, asked, known, headers, this.opts.transport.name, rctx.remote)
      : undefined
    let code = 200
    try {
      const lowered = { headers, body: message.body }
      const answer = await (traced
        ? withContext(traced.ctx, () => this.answer(lowered, rctx))
        : this.answer(lowered, rctx))
      const error = answer.headers['Micro-Error']
      if (error !== undefined) {
        const err = MicroError.parse(error)
        code = err.code
        if (traced) recordMicroError(traced.span, err, true)
      } else if (traced) recordOk(traced.span)
      return answer
    } finally {
      metrics?.serverFinished(this.name, endpoint, code, (performance.now() - started) / 1000)
      traced?.span.end()
    }
  }

  private async answer(message: TransportMessage, rctx: RequestContext): Promise<TransportMessage> {
    const headers = lowerCaseHeaders(message.headers)
    const contentType = headers['content-type'] || 'application/json'
    const reply: Record<string, string> = { 'Content-Type': contentType }
    const id = getHeader(headers, 'micro-id')
    if (id) reply['Micro-Id'] = id
    const debug = this.logger.isLevelEnabled?.('debug') ?? true
    const started = debug ? performance.now() : 0
    let endpoint: string | undefined
    try {
      if (this._state !== 'running') throw DRAINING()
      const ep = this.lookup(headers)
      endpoint = ep.name
      reply['Micro-Service'] = this.name
      reply['Micro-Endpoint'] = ep.name
      if (ep.spec.stream)
        throw new MicroError(ERROR_ID, 400, `${ep.name} is a streaming endpoint: open a stream`)
      const codec = this.codecs(contentType)
      let body = decodeRequest(codec, message.body, ep)
      // The request schema, when the endpoint declares one, runs before the handler.
      if (ep.validate) body = await ep.validate(body)
      const ctx = this.context(headers, ep, rctx)
      const request: ServerRequest = { service: this.name, endpoint: ep.name, contentType, headers, body }
      const result = await untilAborted(this.chain(ep)(request, ctx), rctx, this.stopping)
      const answer = { headers: reply, body: codec.encode(result, ep.spec.responseType) }
      if (debug) this.requestLine(endpoint, 200, started, rctx)
      return answer
    } catch (e) {
      const err = MicroError.from(e, ERROR_ID)
      if (err.code >= 500) this.logFailure(endpoint ?? getHeader(headers, 'micro-endpoint'), e, err)
      if (debug) this.requestLine(endpoint ?? getHeader(headers, 'micro-endpoint'), err.code, started, rctx)
      reply['Micro-Error'] = err.toString()
      return { headers: reply, body: new Uint8Array() }
    }
  }

  /** One line per request at debug: endpoint, code, time taken, caller. */
  private requestLine(
    endpoint: string | undefined,
    code: number,
    started: number,
    rctx: RequestContext,
  ): void {
    this.logger.debug(
      { endpoint, code, ms: Math.round((performance.now() - started) * 1000) / 1000, remote: rctx.remote },
      'request',
    )
  }

  /**
   * A 5xx answer is logged with the endpoint: a crash (anything but a MicroError, or a 500) at
   * error with its stack; a backend failure (503 and the other 5xx) at warn with its cause;
   * a refusal while draining at info.
   */
  private logFailure(endpoint: string | undefined, thrown: unknown, err: MicroError): void {
    const fields = { service: this.name, endpoint, id: err.id, code: err.code }
    if (thrown === err && err.id === ERROR_ID && err.code === 503 && this._state !== 'running') {
      this.logger.info({ ...fields, state: this._state }, 'request refused: the server is not running')
    } else if (!(thrown instanceof MicroError) || err.code === 500) {
      this.logger.error({ ...fields, err: thrown }, `handler ${endpoint ?? ''} failed: ${err.detail}`)
    } else {
      const cause = (err as { cause?: unknown }).cause
      this.logger.warn(
        { ...fields, detail: err.detail, err: cause ?? err },
        `handler ${endpoint ?? ''} failed: ${err.detail}`,
      )
    }
  }

  private chain(ep: RegisteredEndpoint): HandlerFunc {
    let fn = this.chains.get(ep)
    if (fn) return fn
    fn = async (req, ctx) => ep.method.call(ep.receiver, req.body, ctx)
    const wrappers = this.opts.wrappers ?? []
    for (let i = wrappers.length - 1; i >= 0; i--) fn = wrappers[i](fn)
    this.chains.set(ep, fn)
    return fn
  }

  private serveStream(stream: ServerStream, rctx: RequestContext): Promise<void> {
    const tracer = this.opts.telemetry?.tracing === false ? undefined : activeTracer()
    if (!tracer) return this.answerStream(stream, rctx)
    const headers = lowerCaseHeaders(stream.headers)
    const asked = getHeader(headers, 'micro-endpoint') ?? getHeader(headers, 'micro-method')
    const known = asked !== undefined && this.endpoints.has(asked)
    const { span, ctx } = startServerSpan(
      tracer,
      this.name,
      asked,
      known,
      headers,
      this.opts.transport.name,
      rctx.remote,
    )
    return withContext(ctx, () => this.answerStream(new TracedServerStream(stream, span), rctx))
  }

  private async answerStream(stream: ServerStream, rctx: RequestContext): Promise<void> {
    const headers = lowerCaseHeaders(stream.headers)
    let ep: RegisteredEndpoint
    try {
      if (this._state !== 'running') throw DRAINING()
      ep = this.lookup(headers)
      if (!ep.spec.stream) throw new MicroError(ERROR_ID, 400, `${ep.name} is not a streaming endpoint`)
    } catch (e) {
      await stream.close(MicroError.from(e, ERROR_ID))
      return
    }
    const contentType = getHeader(headers, 'content-type') ?? 'application/json'
    const codec = this.codecs(contentType)
    const ctx = this.context(headers, ep, rctx)
    const rpc = new ServerRpcStream(stream, codec, ep, ctx)
    try {
      await ep.method.call(ep.receiver, rpc, ctx)
      await stream.close()
    } catch (e) {
      const err = MicroError.from(e, ERROR_ID)
      if (err.code >= 500) this.logFailure(ep.name, e, err)
      await stream.close(err)
    }
  }

  private async serveGet(path: string): Promise<HttpResponse | undefined> {
    const metrics = this.opts.telemetry?.metrics
    if (path === '/metrics' && metrics) {
      const { contentType, body } = await metrics.scrape()
      return { status: 200, headers: { 'Content-Type': contentType }, body: new TextEncoder().encode(body) }
    }
    const info = { name: this.name, version: this.version, id: this.id, state: this._state }
    if (path === '/health/live') return healthResponse({ status: 'up', checks: [], info })
    if (path !== '/health' && path !== '/health/ready') return undefined
    // The server's own state is read live (a draining server is unready at once); the others
    // come from the checks' short cache.
    const server =
      this._state !== 'running'
        ? { name: 'server', status: 'down' as const, error: `server is ${this._state}` }
        : !this.registered
          ? { name: 'server', status: 'down' as const, error: 'not registered' }
          : { name: 'server', status: 'up' as const }
    return healthResponse(healthReport([server, ...(await this.health.results())], info))
  }
}

function decodeRequest(codec: Codec, body: Uint8Array, ep: RegisteredEndpoint): unknown {
  try {
    return codec.decode(body, ep.spec.requestType)
  } catch (e) {
    const err = MicroError.from(e, ERROR_ID)
    // A body the codec cannot read is the caller's fault.
    throw err.code === 500 ? new MicroError(ERROR_ID, 400, `cannot decode request: ${err.detail}`) : err
  }
}

/**
 * Settle with the handler, or with the abort's MicroError if it comes first (deadline, the
 * client going away, stop). Listens through `onAbort` where the transport has it, so no
 * AbortSignal is made for requests whose handler never asks for one.
 */
function untilAborted<T>(promise: Promise<T>, rctx: RequestContext, stopping: LazyAbort): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const offStop = stopping.onAbort(reject)
    let offRequest: () => void
    if (rctx.onAbort) offRequest = rctx.onAbort(reject)
    else {
      const signal = rctx.signal
      const onAbort = () => reject(abortReason(signal, ERROR_ID))
      if (signal.aborted) onAbort()
      signal.addEventListener('abort', onAbort, { once: true })
      offRequest = () => signal.removeEventListener('abort', onAbort)
    }
    promise.then(
      (v) => {
        offStop()
        offRequest()
        resolve(v)
      },
      (e) => {
        offStop()
        offRequest()
        reject(e)
      },
    )
  })
}

/**
 * The HandlerContext of one request. `signal` (the request's abort or the server's stop,
 * whichever first) is made on first read, as most handlers never read it; a class, not an object
 * literal with getters, because it is made per request (the costs: bench/README.md, "Where the
 * time goes").
 */
class RequestScope implements HandlerContext {
  readonly deadline?: number
  private madeSignal?: AbortSignal
  /** The deadline's own abort, for a transport whose context takes none (no abortAt). */
  private expiry?: LazyAbort

  constructor(
    readonly service: string,
    readonly endpoint: string,
    readonly headers: Record<string, string>,
    private readonly request: RequestContext,
    private readonly stopping: LazyAbort,
  ) {
    // go-micro's rule: the client writes `Timeout`, the server enforces it, transports only carry
    // it. At the deadline the request is aborted with a 408, whether or not the client keeps a timer.
    const ms = parseTimeoutHeader(headers.timeout)
    if (ms === undefined) return
    const deadline = Date.now() + ms
    this.deadline = deadline
    const reason = () => new MicroError(ERROR_ID, 408, `deadline of ${ms}ms exceeded`)
    if (request.abortAt) request.abortAt(deadline, reason)
    else {
      this.expiry = new LazyAbort()
      this.expiry.abortAt(deadline, reason)
    }
  }

  get signal(): AbortSignal {
    this.madeSignal ??= AbortSignal.any(
      this.expiry
        ? [this.request.signal, this.stopping.signal, this.expiry.signal]
        : [this.request.signal, this.stopping.signal],
    )
    return this.madeSignal
  }

  get remote(): string {
    return this.request.remote
  }
}

class ServerRpcStream<Req, Res> implements RpcServerStream<Req, Res> {
  constructor(
    private readonly raw: ServerStream,
    private readonly codec: Codec,
    private readonly ep: RegisteredEndpoint,
    readonly context: HandlerContext,
  ) {}

  async recv(): Promise<Req | undefined> {
    const msg = await this.raw.recv()
    if (!msg) return undefined
    const body = decodeRequest(this.codec, msg.body, this.ep)
    return (this.ep.validate ? await this.ep.validate(body) : body) as Req
  }

  async send(message: Res): Promise<void> {
    await this.raw.send({
      headers: { 'Content-Type': this.codec.contentType },
      body: this.codec.encode(message, this.ep.spec.responseType),
    })
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Req> {
    for (;;) {
      const msg = await this.recv()
      if (msg === undefined) return
      yield msg
    }
  }
}

/** A server stream whose span ends when the server closes it, with the error it closed with. */
class TracedServerStream implements ServerStream {
  constructor(
    private readonly inner: ServerStream,
    private readonly span: Span,
  ) {}

  get headers(): Record<string, string> {
    return this.inner.headers
  }

  get signal(): AbortSignal {
    return this.inner.signal
  }

  send(message: TransportMessage): Promise<void> {
    return this.inner.send(message)
  }

  recv(): Promise<TransportMessage | undefined> {
    return this.inner.recv()
  }

  private open = true

  async close(error?: Error): Promise<void> {
    if (this.open) {
      this.open = false
      if (error) recordMicroError(this.span, MicroError.from(error, ERROR_ID), true)
      else recordOk(this.span)
      this.span.end()
    }
    await this.inner.close(error)
  }
}
