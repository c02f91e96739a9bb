/**
 * The RPC client: wrappers → selector → codec → transport, and back.
 * Retries go to a different node, and only where the request provably did not run (connect
 * failure, a draining server) unless the call says it is idempotent: go-micro retries timeouts
 * and so runs slow handlers several times, the complaint its users raise most.
 */
import type { Span } from '@opentelemetry/api'
import type { Broker } from '../broker/types.js'
import { codecFor } from '../codec/index.js'
import type { Codec } from '../codec/types.js'
import { MicroError, TransportError } from '../errors.js'
import type { Logger } from '../logger.js'
import { silentLogger } from '../logger.js'
import type { Node } from '../registry/types.js'
import type { CallOutcome, Selector } from '../selector/types.js'
import {
  activeTracer,
  injectTrace,
  recordMicroError,
  recordOk,
  setPeer,
  startClientSpan,
  startPublishSpan,
  type TelemetryOptions,
  withContext,
} from '../telemetry.js'
import type { ClientStream, Transport, TransportMessage } from '../transport/types.js'
import { abortReason, deadlineSignal } from '../util/abort.js'
import { formatTimeoutHeader, getHeader, lowerCaseHeaders, TIMEOUT_HEADER } from '../util/headers.js'
import { uuid } from '../util/id.js'
import { sleep } from '../util/time.js'
import { RetryBudget, type RetryBudgetOptions } from './budget.js'
import type {
  BackoffFunc,
  CallFunc,
  CallOptions,
  CallRequest,
  CallWrapper,
  Client,
  PublishMessageOptions,
  RpcStream,
  ServiceProxy,
} from './types.js'

export interface RpcClientOptions {
  transport: Transport
  selector: Selector
  /** Needed for publish(). */
  broker?: Broker
  /** Default per-call timeout in ms (30 s). */
  timeout?: number
  /** Default extra attempts (1). */
  retries?: number
  /**
   * Retries may add at most this share of the calls made over a window (default 20 % over
   * 10 s, or 10 a second when that is more); `false`: no budget, every failed call may retry
   * `retries` times.
   */
  retryBudget?: RetryBudgetOptions | false
  backoff?: BackoffFunc
  contentType?: string
  wrappers?: CallWrapper[]
  logger?: Logger
  /** Resolves a content type to a codec (default: core's codecFor). */
  codecs?: (contentType: string) => Codec
  /** Spans (on while an OpenTelemetry SDK is registered) and a metrics recorder. */
  telemetry?: TelemetryOptions
}

/** go-micro's exponential backoff: attempt^e × 100 ms, capped (internal/util/backoff). */
export const defaultBackoff: BackoffFunc = (attempt) => Math.min(Math.round(attempt ** Math.E * 100), 120_000)

const ERROR_ID = 'go.micro.client'

/** go-micro reads `Timeout` into a Go time.Duration, int64 nanoseconds: about 292 years at most. */
const MAX_TIMEOUT_NS = '9223372036854775807'
const MAX_TIMEOUT_MS = 9_223_372_036_854

/** go-micro's deadline header (nanoseconds); a longer deadline than Go can hold is sent as the longest. */
function timeoutHeader(ms: number): string {
  return ms >= MAX_TIMEOUT_MS ? MAX_TIMEOUT_NS : formatTimeoutHeader(ms)
}

/** The server refused the request before running it (it is shutting down): safe to retry. */
export function isDrainingError(err: unknown): boolean {
  return err instanceof MicroError && err.code === 503 && err.id === 'go.micro.server'
}

/** Did this failure leave the request certainly un-run, or possibly run? */
function mayRetry(err: MicroError, idempotent: boolean): boolean {
  if (err instanceof TransportError) return idempotent || !err.delivered
  if (isDrainingError(err)) return true
  // A server-side 408 means the handler ran out of time: it ran, so only idempotent calls go again.
  return idempotent && [408, 502, 503, 504].includes(err.code)
}

/** Failures that say something about the node rather than the request: set the node aside. */
function isNodeFailure(err: MicroError): boolean {
  return err instanceof TransportError || isDrainingError(err)
}

/** What a failed attempt says about its node, for the selector's load and ejection counts. */
function outcomeOf(err: MicroError, call: CallState): CallOutcome {
  if (call.userSignal?.aborted) return 'cancelled'
  // A request too large for the transport is about the request, not the node.
  if (err instanceof TransportError) return err.code === 413 ? 'answered' : 'down'
  if (isDrainingError(err)) return 'down'
  return [408, 502, 503, 504].includes(err.code) ? 'failed' : 'answered'
}

export class RpcClient implements Client {
  private readonly opts: Required<Omit<RpcClientOptions, 'broker' | 'retryBudget'>> & { broker?: Broker }
  /** Shared by every call of this client; undefined when turned off. */
  private readonly budget: RetryBudget | undefined

  constructor(options: RpcClientOptions) {
    this.budget = options.retryBudget === false ? undefined : new RetryBudget(options.retryBudget)
    this.opts = {
      timeout: 30_000,
      retries: 1,
      backoff: defaultBackoff,
      contentType: 'application/json',
      wrappers: [],
      logger: silentLogger,
      codecs: codecFor,
      telemetry: {},
      // Fields given as undefined keep their defaults.
      ...(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as RpcClientOptions),
    }
  }

  async call<Res = unknown, Req = unknown>(
    service: string,
    endpoint: string,
    request: Req,
    options: CallOptions = {},
  ): Promise<Res> {
    const tracer = this.opts.telemetry.tracing === false ? undefined : activeTracer()
    const metrics = this.opts.telemetry.metrics
    if (!tracer && !metrics) return this.invoke(service, endpoint, request, options)
    const started = performance.now()
    metrics?.clientStarted(service, endpoint)
    let traced: ReturnType<typeof startClientSpan> | undefined
    let opts: TracedOptions = options
    if (tracer) {
      const address = options.address === undefined ? undefined : [options.address].flat()[0]
      traced = startClientSpan(tracer, service, endpoint, this.opts.transport.name, address)
      // The server's span becomes a child of this one (W3C traceparent among the headers).
      const headers = copyHeaders(options.headers)
      injectTrace(traced.ctx, headers)
      opts = Object.assign({}, options)
      opts.headers = headers
      opts[SPAN] = traced.span
    }
    try {
      const ctx = traced?.ctx
      const rsp = ctx
        ? await withContext(ctx, () => this.invoke<Res, Req>(service, endpoint, request, opts))
        : await this.invoke<Res, Req>(service, endpoint, request, opts)
      if (traced) recordOk(traced.span)
      metrics?.clientFinished(service, endpoint, 200, (performance.now() - started) / 1000)
      return rsp
    } catch (e) {
      const err = MicroError.from(e, ERROR_ID)
      if (traced) recordMicroError(traced.span, err)
      metrics?.clientFinished(service, endpoint, err.code, (performance.now() - started) / 1000)
      throw e
    } finally {
      traced?.span.end()
    }
  }

  /** call() without spans or metrics. */
  private async invoke<Res, Req>(
    service: string,
    endpoint: string,
    request: Req,
    options: CallOptions,
  ): Promise<Res> {
    const timeout = options.timeout ?? this.opts.timeout
    const retries = options.retries ?? this.opts.retries
    const backoff = options.backoff ?? this.opts.backoff
    const deadline = Date.now() + timeout
    const userSignal = options.signal
    if (userSignal?.aborted) throw abortReason(userSignal, ERROR_ID)
    // The call's AbortSignal (deadline or the caller's signal) is made only if a wrapper or a
    // retry asks for it: the transport keeps its own timer and takes the caller's signal, so most
    // calls never pay for one (the cost: bench/README.md, "Where the time goes").
    const call: CallState = { userSignal, deadline, timeout }
    const req: CallRequest = {
      service,
      endpoint,
      body: request,
      contentType: options.codec?.contentType ?? options.contentType ?? this.opts.contentType,
      headers: copyHeaders(options.headers),
    }
    const attempt = options.wrappers?.length ? this.chain(options.wrappers) : this.baseChain()
    const direct = this.opts.wrappers.length === 0 && !options.wrappers?.length
    const addresses = options.address === undefined ? undefined : [options.address].flat()
    let tried: Set<string> | undefined
    let lastError: MicroError | undefined
    try {
      this.budget?.call()
      for (let i = 0; i <= retries; i++) {
        if (i > 0) {
          if (this.budget && !this.budget.retry()) {
            this.opts.logger.debug(
              { service, endpoint, err: lastError?.detail },
              'retry budget spent: not retrying',
            )
            break
          }
          await sleep(backoff(i), callSignal(call))
        }
        const node = addresses
          ? addressNode(addresses[i % addresses.length])
          : await this.pick(service, options, tried, lastError)
        if (!node) break
        // A selector that counts load hears of the call's start and end; others of its failures.
        const done = addresses ? undefined : this.opts.selector.begin?.(service, node)
        try {
          const rsp = direct
            ? await this.send(node, req, options, call)
            : await attempt(node, req, attemptOptions(options, call))
          if (done) done('answered')
          else if (!addresses) this.opts.selector.mark(service, node)
          return rsp as Res
        } catch (e) {
          const err = callAborted(call) ?? MicroError.from(e, ERROR_ID)
          if (done) done(outcomeOf(err, call))
          else if (!addresses && isNodeFailure(err)) this.opts.selector.mark(service, node, err)
          tried ??= new Set()
          tried.add(node.id)
          lastError = err
          if (callAborted(call) || !mayRetry(err, options.idempotent === true)) throw err
          this.opts.logger.debug({ service, endpoint, node: node.address, err: err.detail }, 'retrying call')
        }
      }
      throw lastError ?? new MicroError(ERROR_ID, 503, `no node available for ${service}`)
    } finally {
      call.made?.dispose()
    }
  }

  /** A node not tried yet by this call; undefined once every node has been tried. */
  private pick(
    service: string,
    options: CallOptions,
    tried: Set<string> | undefined,
    lastError: MicroError | undefined,
  ): Promise<Node | undefined> {
    const picked = this.opts.selector.select(
      service,
      tried ? { ...options.select, exclude: [...tried, ...(options.select?.exclude ?? [])] } : options.select,
    )
    if (!lastError) return picked
    // Out of untried nodes: report the failure that got us here rather than "none available".
    return picked.catch((e: unknown) => {
      if (e instanceof MicroError && e.code === 503) return undefined
      throw e
    })
  }

  /** The client's own wrappers around send(), built on first use. */
  private base?: CallFunc

  private baseChain(): CallFunc {
    if (!this.base) this.base = this.chain()
    return this.base
  }

  private chain(extra: CallWrapper[] = []): CallFunc {
    let fn: CallFunc = (node, req, opts) => this.send(node, req, opts)
    const wrappers = [...this.opts.wrappers, ...extra]
    for (let i = wrappers.length - 1; i >= 0; i--) fn = wrappers[i](fn)
    return fn
  }

  /**
   * One attempt: encode, send over the transport, decode or raise the remote MicroError.
   * `call` is given when no wrapper stands between (the attempt's options were never built).
   */
  private async send(
    node: Node,
    req: CallRequest,
    options: AttemptOptions,
    call?: CallState,
  ): Promise<unknown> {
    const codec = options.codec ?? this.opts.codecs(req.contentType)
    const timeout = call ? call.deadline - Date.now() : options.timeout
    const span = (options as TracedOptions)[SPAN]
    if (span) setPeer(span, node.address)
    const message: TransportMessage = {
      headers: this.requestHeaders(req, timeout),
      body: codec.encode(req.body, options.requestType),
    }
    const rsp = await this.opts.transport.request(node.address, message, {
      signal: call ? (call.made?.signal ?? call.userSignal) : transportSignal(options),
      timeout,
    })
    const headers = lowerCaseHeaders(rsp.headers)
    const remoteError = getHeader(headers, 'micro-error')
    if (remoteError) throw MicroError.parse(remoteError)
    const type = headers['content-type']
    const rspCodec = type && type !== req.contentType ? this.opts.codecs(type) : codec
    return rspCodec.decode(rsp.body, options.responseType)
  }

  private requestHeaders(req: CallRequest, timeoutMs?: number): Record<string, string> {
    const headers = copyHeaders(req.headers)
    headers['Content-Type'] = req.contentType
    headers.Accept = req.contentType
    headers['Micro-Service'] = req.service
    headers['Micro-Endpoint'] = req.endpoint
    headers['Micro-Method'] = req.endpoint
    headers['Micro-Id'] = uuid()
    if (timeoutMs !== undefined && timeoutMs > 0) headers[TIMEOUT_HEADER] = timeoutHeader(timeoutMs)
    return headers
  }

  async stream<Req = unknown, Res = unknown>(
    service: string,
    endpoint: string,
    options: CallOptions = {},
  ): Promise<RpcStream<Req, Res>> {
    const tracer = this.opts.telemetry.tracing === false ? undefined : activeTracer()
    if (!tracer) return this.openStream(service, endpoint, options)
    const { span, ctx } = startClientSpan(tracer, service, endpoint, this.opts.transport.name)
    const headers = copyHeaders(options.headers)
    injectTrace(ctx, headers)
    try {
      return new TracedStream(
        await this.openStream<Req, Res>(service, endpoint, { ...options, headers }),
        span,
      )
    } catch (e) {
      recordMicroError(span, MicroError.from(e, ERROR_ID))
      span.end()
      throw e
    }
  }

  private async openStream<Req, Res>(
    service: string,
    endpoint: string,
    options: CallOptions,
  ): Promise<RpcStream<Req, Res>> {
    const contentType = options.codec?.contentType ?? options.contentType ?? this.opts.contentType
    const codec = options.codec ?? this.opts.codecs(contentType)
    const addresses = options.address === undefined ? undefined : [options.address].flat()
    const node = addresses
      ? addressNode(addresses[0])
      : await this.opts.selector.select(service, options.select)
    const headers = this.requestHeaders(
      { service, endpoint, body: undefined, contentType, headers: copyHeaders(options.headers) },
      options.timeout,
    )
    headers['Micro-Stream'] = headers['Micro-Id']
    let raw: ClientStream
    try {
      raw = await this.opts.transport.stream(
        node.address,
        { headers, body: new Uint8Array() },
        {
          signal: options.signal,
          timeout: options.timeout,
        },
      )
    } catch (e) {
      const err = MicroError.from(e, ERROR_ID)
      if (!addresses && isNodeFailure(err)) this.opts.selector.mark(service, node, err)
      throw err
    }
    return new ClientRpcStream<Req, Res>(raw, codec, options)
  }

  async publish(topic: string, message: unknown, options: PublishMessageOptions = {}): Promise<void> {
    const broker = this.opts.broker
    if (!broker) throw new MicroError(ERROR_ID, 500, 'publish needs a broker: none was configured')
    const contentType = options.contentType ?? this.opts.contentType
    const codec = this.opts.codecs(contentType)
    // go-micro reads these with exact-case map lookups: keep its spelling.
    const id = uuid()
    const headers = copyHeaders(options.headers)
    headers['Content-Type'] = contentType
    headers['Micro-Topic'] = topic
    headers['Micro-Id'] = id
    const body = codec.encode(message, options.requestType)
    const tracer = this.opts.telemetry.tracing === false ? undefined : activeTracer()
    const metrics = this.opts.telemetry.metrics
    if (!tracer && !metrics) return broker.publish(topic, { headers, body })
    const started = performance.now()
    // The subscriber's span becomes a child of this one: the trace context rides in the message headers.
    const traced = tracer ? startPublishSpan(tracer, topic, broker.name, id, body.byteLength) : undefined
    if (traced) injectTrace(traced.ctx, headers)
    try {
      await broker.publish(topic, { headers, body })
      metrics?.published(topic, 200, (performance.now() - started) / 1000)
    } catch (e) {
      const err = MicroError.from(e, ERROR_ID)
      if (traced) recordMicroError(traced.span, err)
      metrics?.published(topic, err.code, (performance.now() - started) / 1000)
      throw e
    } finally {
      traced?.span.end()
    }
  }

  service<T extends object>(name: string, handler: string, defaults: CallOptions = {}): ServiceProxy<T> {
    return new Proxy({} as ServiceProxy<T>, {
      get: (_target, method) => {
        if (typeof method !== 'string' || method === 'then') return undefined
        return (request: unknown, options: CallOptions = {}) =>
          this.call(name, `${handler}.${method}`, request, { ...defaults, ...options })
      },
    })
  }
}

/**
 * A copy of `headers` that takes more names quickly. Not `{ ...headers, name: value }`: V8 (Node
 * 20) gives a spread copy of a non-empty object a map outside its transition tree, so each name
 * added after it takes the slow path, about 10 µs a call once a traceparent is among the headers.
 */
function copyHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (headers === undefined) return out
  // Own names only, as a spread copies (a for-in would send inherited ones too).
  for (const k of Object.keys(headers)) out[k] = headers[k]
  return out
}

/** Where send() finds the call's span (through wrappers that spread the options) to name the node. */
const SPAN = Symbol('micro.span')
type TracedOptions = CallOptions & { [SPAN]?: Span }

/** One call's deadline and its AbortSignal, once made. */
interface CallState {
  userSignal?: AbortSignal
  deadline: number
  timeout: number
  made?: { signal: AbortSignal; dispose(): void }
}

/** Where send() finds the call it belongs to, through wrappers that spread the options. */
const CALL = Symbol('micro.call')
type AttemptOptions = CallOptions & { [CALL]?: CallState }

function callSignal(call: CallState): AbortSignal {
  call.made ??= deadlineSignal(call.deadline - Date.now(), [call.userSignal], ERROR_ID)
  return call.made.signal
}

/** The options one attempt passes down the wrappers; `signal` is made if someone reads it. */
function attemptOptions(options: CallOptions, call: CallState): AttemptOptions {
  return {
    ...options,
    timeout: call.deadline - Date.now(),
    [CALL]: call,
    get signal() {
      return callSignal(call)
    },
  }
}

/**
 * The signal to give the transport. While nobody read the call's signal, the caller's own is
 * enough (the transport enforces `timeout` itself); once read, a wrapper may have replaced it.
 */
function transportSignal(options: AttemptOptions): AbortSignal | undefined {
  const call = options[CALL]
  return call && !call.made ? call.userSignal : options.signal
}

/** The MicroError for a call cut short by its deadline or the caller, or undefined. */
function callAborted(call: CallState): MicroError | undefined {
  if (call.made?.signal.aborted) return abortReason(call.made.signal, ERROR_ID)
  if (call.userSignal?.aborted) return abortReason(call.userSignal, ERROR_ID)
  if (Date.now() >= call.deadline)
    return new MicroError(ERROR_ID, 408, `request timed out after ${call.timeout}ms`)
  return undefined
}

function addressNode(address: string): Node {
  return { id: address, address, metadata: {} }
}

class ClientRpcStream<Req, Res> implements RpcStream<Req, Res> {
  constructor(
    private readonly raw: ClientStream,
    private readonly codec: Codec,
    private readonly options: CallOptions,
  ) {}

  async send(message: Req): Promise<void> {
    await this.raw.send({
      headers: { 'Content-Type': this.codec.contentType },
      body: this.codec.encode(message, this.options.requestType),
    })
  }

  async recv(): Promise<Res | undefined> {
    const msg = await this.raw.recv()
    if (!msg) return undefined
    const remoteError = getHeader(lowerCaseHeaders(msg.headers), 'micro-error')
    if (remoteError) throw MicroError.parse(remoteError)
    return this.codec.decode(msg.body, this.options.responseType) as Res
  }

  closeSend(): Promise<void> {
    return this.raw.closeSend()
  }

  close(): Promise<void> {
    return this.raw.close()
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Res> {
    for (;;) {
      const msg = await this.recv()
      if (msg === undefined) return
      yield msg
    }
  }
}

/** A client stream whose span ends with the stream: at its end, its first error, or close(). */
class TracedStream<Req, Res> implements RpcStream<Req, Res> {
  private open = true

  constructor(
    private readonly inner: RpcStream<Req, Res>,
    private readonly span: Span,
  ) {}

  private end(err?: unknown): void {
    if (!this.open) return
    this.open = false
    if (err === undefined) recordOk(this.span)
    else recordMicroError(this.span, MicroError.from(err, ERROR_ID))
    this.span.end()
  }

  async send(message: Req): Promise<void> {
    try {
      await this.inner.send(message)
    } catch (e) {
      this.end(e)
      throw e
    }
  }

  async recv(): Promise<Res | undefined> {
    try {
      const msg = await this.inner.recv()
      if (msg === undefined) this.end()
      return msg
    } catch (e) {
      this.end(e)
      throw e
    }
  }

  closeSend(): Promise<void> {
    return this.inner.closeSend()
  }

  async close(): Promise<void> {
    try {
      await this.inner.close()
    } finally {
      this.end()
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Res> {
    for (;;) {
      const msg = await this.recv()
      if (msg === undefined) return
      yield msg
    }
  }
}
