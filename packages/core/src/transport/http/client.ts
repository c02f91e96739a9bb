/**
 * The client side of the HTTP transport: undici keep-alive pools, one per address. Each request
 * is `POST /` with the message's headers (plus Host and Content-Length from undici); the answer's
 * headers and body come back as a TransportMessage. Streams open with an HTTP/1.1 upgrade.
 */
import type { Socket } from 'node:net'
import type { Dispatcher } from 'undici'
import { MicroError, TransportError } from '../../errors.js'
import { abortReason } from '../../util/abort.js'
import type { TransportMessage } from '../types.js'
import { HttpClientStream } from './stream.js'
import { HOP_BY_HOP, receivedHeaders, textValue, wireValue } from './wire.js'

const ERROR_ID = 'go.micro.client'

const CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  EPIPE: 'connection closed while sending',
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_CLOSED: 'transport closed',
  UND_ERR_DESTROYED: 'transport closed',
  UND_ERR_HEADERS_TIMEOUT: 'no response headers in time',
  UND_ERR_BODY_TIMEOUT: 'response body stalled',
}

/**
 * A failure of the request itself, not an answer from the server. `started` says whether undici
 * had begun writing the request: before that it provably never reached the server.
 */
export function transportError(address: string, err: unknown, started: boolean): MicroError {
  if (err instanceof MicroError) return err
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException }
  const code = e?.code ?? e?.cause?.code ?? ''
  if (code === 'UND_ERR_INVALID_ARG') {
    return new TransportError(`request to ${address} is invalid: ${e.message}`, {
      delivered: false,
      code: 400,
      cause: err,
    })
  }
  const cause = `${CAUSES[code] ?? e?.message ?? String(err)}${code ? ` (${code})` : ''}`
  if (!started) {
    return new TransportError(`${address}: connect failed: ${cause}`, { delivered: false, cause: err })
  }
  return new TransportError(
    `${address}: connection lost before the response arrived, the request may have run: ${cause}`,
    {
      delivered: true,
      cause: err,
    },
  )
}

/**
 * The message's headers as undici takes them: a flat [name, value, ...] list without hop-by-hop
 * headers, values made safe for the wire, and `Timeout` (nanoseconds, go-micro's unit) from the
 * caller's deadline unless the message already has one.
 */
export function requestHeaders(
  headers: Record<string, string> | undefined,
  timeoutMs: number | undefined,
): string[] {
  const out: string[] = []
  let hasTimeout = false
  for (const k in headers) {
    const v = headers[k]
    if (v === undefined || v === null) continue
    const lower = k.toLowerCase()
    if (HOP_BY_HOP.has(lower)) continue
    if (lower === 'timeout') hasTimeout = true
    out.push(k, wireValue(typeof v === 'string' ? v : String(v)))
  }
  if (!hasTimeout && timeoutMs !== undefined && timeoutMs > 0 && Number.isFinite(timeoutMs)) {
    out.push('Timeout', String(Math.max(1, Math.round(timeoutMs * 1e6))))
  }
  return out
}

/** Collects one unary response; settles exactly once. */
export class UnaryHandler implements Dispatcher.DispatchHandler {
  private controller?: Dispatcher.DispatchController
  private started = false
  private settled = false
  private abortReason?: MicroError
  private status = 0
  private headers?: Record<string, string | string[] | undefined>
  private first?: Buffer
  private chunks?: Buffer[]
  private size = 0
  timer?: NodeJS.Timeout
  signal?: AbortSignal
  readonly onAbort = (): void => this.abort(abortReason(this.signal as AbortSignal, ERROR_ID))

  constructor(
    private readonly address: string,
    private readonly maxResponseSize: number,
    private readonly resolve: (message: TransportMessage) => void,
    private readonly reject: (error: MicroError) => void,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    this.started = true
    if (this.abortReason) controller.abort(this.abortReason)
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    this.status = statusCode
    this.headers = headers
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.size += chunk.length
    if (this.size > this.maxResponseSize) {
      this.abort(
        new TransportError(`${this.address}: response exceeds the limit of ${this.maxResponseSize} bytes`, {
          delivered: true,
          code: 413,
        }),
      )
      return
    }
    if (this.first === undefined) this.first = chunk
    else if (this.chunks) this.chunks.push(chunk)
    else this.chunks = [this.first, chunk]
  }

  onResponseEnd(): void {
    if (this.settled) return
    const body = this.chunks ? Buffer.concat(this.chunks, this.size) : (this.first ?? EMPTY)
    const headers = receivedHeaders(this.headers ?? {})
    if (this.status !== 200 && headers['micro-error'] === undefined) {
      // Not an RPC answer (a proxy, a non-micro server): report what came back.
      const text = textValue(body.subarray(0, 300).toString('latin1')).trim()
      this.finish(
        new MicroError(
          ERROR_ID,
          this.status,
          `${this.address} answered HTTP ${this.status}${text ? `: ${text}` : ''}`,
          undefined,
        ),
      )
      return
    }
    this.finish(undefined, { headers, body })
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.settled) return
    this.finish(transportError(this.address, err, this.started))
  }

  /** Deadline or cancellation: reject now, and stop the HTTP request (undici drops its connection). */
  abort(reason: MicroError): void {
    if (this.settled) return
    this.abortReason = reason
    this.finish(reason)
    this.controller?.abort(reason)
  }

  private finish(error?: MicroError, message?: TransportMessage): void {
    if (this.settled) return
    this.settled = true
    if (this.timer) clearTimeout(this.timer)
    this.signal?.removeEventListener('abort', this.onAbort)
    if (error) this.reject(error)
    else this.resolve(message as TransportMessage)
  }
}

const EMPTY = Buffer.alloc(0)

/** Opens one stream: waits for `101`, then hands the socket to an HttpClientStream. */
export class UpgradeHandler implements Dispatcher.DispatchHandler {
  private controller?: Dispatcher.DispatchController
  private started = false
  private settled = false
  private abortReason?: MicroError
  private status = 0
  private headers?: Record<string, string | string[] | undefined>
  private chunks: Buffer[] = []
  timer?: NodeJS.Timeout
  signal?: AbortSignal
  readonly onAbort = (): void => this.abort(abortReason(this.signal as AbortSignal, ERROR_ID))

  constructor(
    private readonly address: string,
    private readonly maxMessageSize: number,
    private readonly resolve: (stream: HttpClientStream) => void,
    private readonly reject: (error: MicroError) => void,
    private readonly onClosed: () => void,
  ) {}

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    this.started = true
    if (this.abortReason) controller.abort(this.abortReason)
  }

  onRequestUpgrade(
    _controller: Dispatcher.DispatchController,
    _statusCode: number,
    _headers: Record<string, string | string[] | undefined>,
    socket: import('node:stream').Duplex,
  ): void {
    if (this.settled) {
      socket.destroy()
      return
    }
    // Built synchronously so no byte the server sent after 101 can be missed.
    const stream = new HttpClientStream(socket as Socket, this.address, this.maxMessageSize, this.onClosed)
    this.settled = true
    this.resolve(stream)
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    this.status = statusCode
    this.headers = headers
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.chunks.length < 16) this.chunks.push(chunk)
  }

  onResponseEnd(): void {
    // The server did not switch protocols: report its error (Micro-Error or JSON body) or its status.
    const headers = receivedHeaders(this.headers ?? {})
    const body = Buffer.concat(this.chunks).toString('utf8').trim()
    const remote = headers['micro-error'] ?? (body.startsWith('{') ? body : undefined)
    const err = remote
      ? MicroError.parse(remote)
      : new MicroError(
          ERROR_ID,
          this.status === 200 ? 501 : this.status,
          `${this.address} does not serve micro-streams (HTTP ${this.status})`,
        )
    this.fail(err)
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.fail(transportError(this.address, err, this.started))
  }

  abort(reason: MicroError): void {
    if (this.settled) return
    this.abortReason = reason
    this.fail(reason)
    this.controller?.abort(reason)
  }

  private fail(error: MicroError): void {
    if (this.settled) return
    this.settled = true
    this.reject(error)
  }
}
