/**
 * The RPC client: wrappers → selector → codec → transport, and back.
 * Retries go to a different node, and only where the request provably did not run (connect
 * failure, a draining server) unless the call says it is idempotent — go-micro's retry on
 * timeout re-runs handlers, which its users complain about (reference §8.1).
 */
import type { Broker } from '../broker/types.js'
import { codecFor } from '../codec/index.js'
import type { Codec } from '../codec/types.js'
import { MicroError, TransportError } from '../errors.js'
import type { Logger } from '../logger.js'
import { silentLogger } from '../logger.js'
import type { Node } from '../registry/types.js'
import type { Selector } from '../selector/types.js'
import type { ClientStream, Transport, TransportMessage } from '../transport/types.js'
import { abortReason, deadlineSignal } from '../util/abort.js'
import { getHeader, lowerCaseHeaders } from '../util/headers.js'
import { sleep, uuid } from '../util/id.js'
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
  backoff?: BackoffFunc
  contentType?: string
  wrappers?: CallWrapper[]
  logger?: Logger
  /** Resolves a content type to a codec (default: core's codecFor). */
  codecs?: (contentType: string) => Codec
}

/** go-micro's exponential backoff: attempt^e × 100 ms, capped (internal/util/backoff). */
export const defaultBackoff: BackoffFunc = (attempt) => Math.min(Math.round(attempt ** Math.E * 100), 120_000)

const ERROR_ID = 'go.micro.client'

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

export class RpcClient implements Client {
  private readonly opts: Required<Omit<RpcClientOptions, 'broker'>> & { broker?: Broker }

  constructor(options: RpcClientOptions) {
    this.opts = {
      timeout: 30_000,
      retries: 1,
      backoff: defaultBackoff,
      contentType: 'application/json',
      wrappers: [],
      logger: silentLogger,
      codecs: codecFor,
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
    const timeout = options.timeout ?? this.opts.timeout
    const retries = options.retries ?? this.opts.retries
    const backoff = options.backoff ?? this.opts.backoff
    const deadline = Date.now() + timeout
    const { signal, dispose } = deadlineSignal(timeout, [options.signal], ERROR_ID)
    const req: CallRequest = {
      service,
      endpoint,
      body: request,
      contentType: options.contentType ?? this.opts.contentType,
      headers: { ...options.headers },
    }
    const attempt = this.chain(options.wrappers)
    const addresses = options.address === undefined ? undefined : [options.address].flat()
    const tried = new Set<string>()
    let lastError: MicroError | undefined
    try {
      for (let i = 0; i <= retries; i++) {
        if (i > 0) await sleep(backoff(i), signal)
        const node = addresses
          ? addressNode(addresses[i % addresses.length])
          : await this.pick(service, options, tried, lastError)
        if (!node) break
        try {
          const rsp = await attempt(node, req, { ...options, signal, timeout: deadline - Date.now() })
          if (!addresses) this.opts.selector.mark(service, node)
          return rsp as Res
        } catch (e) {
          const err = signal.aborted ? abortReason(signal, ERROR_ID) : MicroError.from(e, ERROR_ID)
          if (!addresses && isNodeFailure(err)) this.opts.selector.mark(service, node, err)
          tried.add(node.id)
          lastError = err
          if (signal.aborted || !mayRetry(err, options.idempotent === true)) throw err
          this.opts.logger.debug({ service, endpoint, node: node.address, err: err.detail }, 'retrying call')
        }
      }
      throw lastError ?? new MicroError(ERROR_ID, 503, `no node available for ${service}`)
    } finally {
      dispose()
    }
  }

  /** A node not tried yet by this call; undefined once every node has been tried. */
  private async pick(
    service: string,
    options: CallOptions,
    tried: Set<string>,
    lastError: MicroError | undefined,
  ): Promise<Node | undefined> {
    try {
      return await this.opts.selector.select(service, {
        ...options.select,
        exclude: [...tried, ...(options.select?.exclude ?? [])],
      })
    } catch (e) {
      // Out of untried nodes: report the failure that got us here rather than "none available".
      if (lastError && e instanceof MicroError && e.code === 503) return undefined
      throw e
    }
  }

  private chain(extra: CallWrapper[] = []): CallFunc {
    let fn: CallFunc = (node, req, opts) => this.send(node, req, opts)
    const wrappers = [...this.opts.wrappers, ...extra]
    for (let i = wrappers.length - 1; i >= 0; i--) fn = wrappers[i](fn)
    return fn
  }

  /** One attempt: encode, send over the transport, decode or raise the remote MicroError. */
  private async send(node: Node, req: CallRequest, options: CallOptions): Promise<unknown> {
    const codec = this.opts.codecs(req.contentType)
    const message: TransportMessage = {
      headers: this.requestHeaders(req, options.timeout),
      body: codec.encode(req.body, options.requestType),
    }
    const rsp = await this.opts.transport.request(node.address, message, {
      signal: options.signal,
      timeout: options.timeout,
    })
    const headers = lowerCaseHeaders(rsp.headers)
    const remoteError = getHeader(headers, 'micro-error')
    if (remoteError) throw MicroError.parse(remoteError)
    const rspCodec = this.opts.codecs(getHeader(headers, 'content-type') ?? req.contentType)
    return rspCodec.decode(rsp.body, options.responseType)
  }

  private requestHeaders(req: CallRequest, timeoutMs?: number): Record<string, string> {
    const headers: Record<string, string> = {
      ...req.headers,
      'Content-Type': req.contentType,
      Accept: req.contentType,
      'Micro-Service': req.service,
      'Micro-Endpoint': req.endpoint,
      'Micro-Method': req.endpoint,
      'Micro-Id': uuid(),
    }
    // go-micro's server reads the deadline from `Timeout`, in nanoseconds.
    if (timeoutMs !== undefined && timeoutMs > 0)
      headers.Timeout = String(Math.max(1, Math.floor(timeoutMs)) * 1e6)
    return headers
  }

  async stream<Req = unknown, Res = unknown>(
    service: string,
    endpoint: string,
    options: CallOptions = {},
  ): Promise<RpcStream<Req, Res>> {
    const contentType = options.contentType ?? this.opts.contentType
    const codec = this.opts.codecs(contentType)
    const addresses = options.address === undefined ? undefined : [options.address].flat()
    const node = addresses
      ? addressNode(addresses[0])
      : await this.opts.selector.select(service, options.select)
    const headers = this.requestHeaders(
      { service, endpoint, body: undefined, contentType, headers: { ...options.headers } },
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
    await broker.publish(topic, {
      headers: { ...options.headers, 'Content-Type': contentType, 'Micro-Topic': topic, 'Micro-Id': uuid() },
      body: codec.encode(message, options.requestType),
    })
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
