/**
 * The client side of the HTTP transport: undici keep-alive pools, one per address. Each request
 * is `POST /` with the message's headers (plus Host and Content-Length from undici); the answer's
 * headers and body come back as a TransportMessage. Streams open with an HTTP/1.1 upgrade.
 */
import { connect } from 'node:net'
import type { Dispatcher } from 'undici'
import { MicroError, TransportError } from '../../errors.js'
import { type StreamOpening, socketCause, WatchedCall } from '../net.js'
import type { TransportMessage } from '../types.js'
import { GoMicroClientStream, lineMap, type ParsedHead, parseResponseHead } from './gomicro.js'
import { type ClientStreamControl, HttpClientStream } from './stream.js'
import { HOP_BY_HOP, receivedHeaders, textValue, wireValue } from './wire.js'

const ERROR_ID = 'go.micro.client'

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
  const cause = socketCause(err)
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
 * headers, values made safe for the wire. `Timeout` travels as the message has it (the RPC
 * client writes it).
 */
export function requestHeaders(headers: Record<string, string> | undefined): string[] {
  const out: string[] = []
  for (const k in headers) {
    const v = headers[k]
    if (v === undefined || v === null) continue
    if (HOP_BY_HOP.has(k.toLowerCase())) continue
    out.push(k, wireValue(typeof v === 'string' ? v : String(v)))
  }
  return out
}

/** Collects one unary response; settles exactly once (at the latest at the caller's deadline). */
export class UnaryHandler extends WatchedCall implements Dispatcher.DispatchHandler {
  private controller?: Dispatcher.DispatchController
  private started = false
  private settled = false
  private abortReason?: MicroError
  private status = 0
  private headers?: Record<string, string | string[] | undefined>
  private first?: Buffer
  private chunks?: Buffer[]
  private size = 0

  constructor(
    private readonly address: string,
    private readonly maxResponseSize: number,
    private readonly resolve: (message: TransportMessage) => void,
    private readonly reject: (error: MicroError) => void,
  ) {
    super()
  }

  expire(): void {
    this.abort(new MicroError(ERROR_ID, 408, `request to ${this.address} timed out after ${this.timeout}ms`))
  }

  protected canceled(reason: MicroError): void {
    this.abort(reason)
  }

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
    this.unwatch()
    if (error) this.reject(error)
    else this.resolve(message as TransportMessage)
  }
}

const EMPTY = Buffer.alloc(0)

export interface OpenStreamOptions {
  address: string
  host: string
  port: number
  /** Flat [name, value, ...] list from requestHeaders. */
  headers: string[]
  body: Uint8Array
  connectTimeout: number
  maxMessageSize: number
}

/**
 * Open a stream on its own connection. The opening `POST /` offers our upgrade
 * (`Upgrade: micro-stream`) and also carries `Expect: 100-continue`: our servers answer `101`
 * and switch to frames; a go-micro server answers `100 Continue` (Go does so when its handler
 * reads the body), gets the body, and the stream continues in go-micro's flavour. No guessing,
 * no timing: the first status line says which peer it is.
 */
export function openStream(o: OpenStreamOptions): StreamOpening<ClientStreamControl> {
  let abort: (reason: MicroError) => void = () => {}
  const promise = new Promise<ClientStreamControl>((resolve, reject) => {
    const socket = connect({ host: o.host, port: o.port })
    socket.setNoDelay(true)
    let connected = false
    let settled = false
    let buffered: Buffer = Buffer.alloc(0)
    // go-micro discards the first message of a stream; it still has to be there (and non-empty,
    // or Go sends no 100 Continue).
    const goBody = o.body.length > 0 ? o.body : Buffer.from('{}')
    const timer = setTimeout(() => {
      fail(
        connected
          ? new TransportError(
              `stream to ${o.address}: no answer to the opening request within ${o.connectTimeout}ms`,
              {
                delivered: true,
              },
            )
          : new TransportError(`${o.address}: connect failed: connect timeout (UND_ERR_CONNECT_TIMEOUT)`, {
              delivered: false,
            }),
      )
    }, o.connectTimeout)
    const cleanup = () => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('error', onError)
      socket.off('close', onClose)
      socket.off('connect', onConnect)
    }
    const fail = (err: MicroError) => {
      if (settled) return
      settled = true
      cleanup()
      socket.on('error', () => {})
      socket.destroy()
      reject(err)
    }
    abort = fail
    const onError = (err: Error) => fail(transportError(o.address, err, connected))
    const onClose = () =>
      fail(
        connected
          ? new TransportError(`stream to ${o.address}: the connection closed before the stream opened`, {
              delivered: true,
            })
          : new TransportError(`${o.address}: connect failed: connection closed`, { delivered: false }),
      )
    const onConnect = () => {
      connected = true
      let head =
        `POST / HTTP/1.1\r\nHost: ${o.address}\r\nConnection: Upgrade\r\nUpgrade: ${UPGRADE}\r\n` +
        `Expect: 100-continue\r\nContent-Length: ${goBody.length}\r\n`
      for (let i = 0; i < o.headers.length; i += 2) head += `${o.headers[i]}: ${o.headers[i + 1]}\r\n`
      socket.write(`${head}\r\n`, 'latin1')
    }
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      let head: ParsedHead | undefined
      try {
        head = parseResponseHead(buffered, ERROR_ID)
      } catch (e) {
        fail(e as MicroError)
        return
      }
      if (!head) return
      const rest = buffered.subarray(head.size)
      if (head.status === 101) {
        settled = true
        cleanup()
        const stream = new HttpClientStream(socket, o.address, o.maxMessageSize, rest)
        if (o.body.length > 0) stream.send({ headers: {}, body: o.body }).catch(() => {})
        resolve(stream)
      } else if (head.status === 100) {
        settled = true
        cleanup()
        socket.write(goBody)
        const lines = lineMap(['Host', o.address, ...o.headers])
        resolve(new GoMicroClientStream(socket, o.address, lines, o.maxMessageSize, rest))
      } else {
        // Refused: read the answer's body (bounded) for its error, then report it.
        const length = Math.min(Number(head.headers['content-length'] ?? 0) || 0, 64 * 1024)
        if (rest.length < length) return
        const body = rest.subarray(0, length).toString('utf8').trim()
        const remote = head.headers['micro-error'] ?? (body.startsWith('{') ? body : undefined)
        fail(
          remote
            ? MicroError.parse(remote)
            : new MicroError(
                ERROR_ID,
                head.status === 200 ? 501 : head.status,
                `${o.address} does not serve streams (HTTP ${head.status})`,
              ),
        )
      }
    }
    socket.on('connect', onConnect)
    socket.on('data', onData)
    socket.on('error', onError)
    socket.on('close', onClose)
  })
  return { promise, abort: (reason) => abort(reason) }
}

const UPGRADE = 'micro-stream'
