/**
 * The server side of the HTTP transport: go-micro's RPC over HTTP on node:http.
 * `POST /` carries one request (headers + body) and gets `200` with the reply's headers and body;
 * failures the transport itself detects travel as `Micro-Error: <MicroError JSON>`, which is what
 * a go-micro client reads. `GET` goes to the handler's plain routes (health). A request with
 * `Upgrade: micro-stream` becomes a bidirectional stream (see frames.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { Server as NetServer, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { MicroError, statusText } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { LazyAbort } from '../../util/abort.js'
import { formatAddress } from '../../util/address.js'
import { atDeadline, type LongTimer } from '../../util/time.js'
import { callHandler, ListenerBase, maxBodySize, shuttingDown } from '../listener.js'
import type { ListenOptions, RequestContext, TransportHandler, TransportMessage } from '../types.js'
import { GoMicroServerStream } from './gomicro.js'
import { HttpServerStream, type ServerStreamControl } from './stream.js'
import { HOP_BY_HOP, receivedHeaders, wireValue } from './wire.js'

const ERROR_ID = 'go.micro.server'
const EMPTY = new Uint8Array(0)
/** After a 413 the rest of the body is read and dropped (so the client sees the answer) up to this much... */
const DISCARD_LIMIT = 64 * 1024 * 1024
/** ...or for this long; then the connection is dropped. */
const DISCARD_MS = 5_000
const UPGRADE_PROTOCOL = 'micro-stream'
/** Longest header value sent, in characters (see shorten). */
const MAX_HEADER_VALUE = 8 * 1024
/** Largest request head accepted (node's default is 16 KiB; go-micro metadata travels as headers). */
export const MAX_HEADER_SIZE = 64 * 1024
/** Bodies up to this size are sent in the same write as the headers. */
const ONE_WRITE_MAX = 4 * 1024
/**
 * While closing, idle keep-alive connections stay open until no request has arrived on any
 * connection for this long (within the grace period): clients that had not yet seen the node
 * leave the registry get an answer (a retryable 503) instead of a reset.
 */
const QUIET_MS = 250

function latin1(bytes: Uint8Array): string {
  return (
    Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  ).toString('latin1')
}

export interface HttpListenerOptions extends ListenOptions {
  /** Idle keep-alive connections are closed after this many ms. */
  idleTimeout: number
  logger: Logger
}

function remoteOf(socket: Socket | Duplex): string {
  const s = socket as Socket
  return s.remoteAddress ? formatAddress(s.remoteAddress, s.remotePort ?? 0) : ''
}

/** What the handler sees with each request; its AbortSignal is made only if asked for. */
class Context extends LazyAbort implements RequestContext {
  constructor(private readonly socket: Socket | Duplex) {
    super()
  }

  get remote(): string {
    return remoteOf(this.socket)
  }
}

/** What a stream's handler sees beside the stream: aborting it aborts the stream. */
class StreamContext implements RequestContext {
  private expiry?: LongTimer

  constructor(
    private readonly stream: ServerStreamControl,
    private readonly socket: Socket,
  ) {}

  get signal(): AbortSignal {
    return this.stream.signal
  }

  get remote(): string {
    return remoteOf(this.socket)
  }

  abortAt(deadline: number, reason: () => MicroError): void {
    this.expiry?.clear()
    this.expiry = atDeadline(deadline, () => this.stream.abort(reason(), false))
  }

  /** The stream finished: its deadline goes. */
  finish(): void {
    this.expiry?.clear()
  }
}

export class HttpListener extends ListenerBase<Server> {
  private readonly streams = new Set<ServerStreamControl>()
  /** Connections that carry a go-micro client's stream (see onGoMicroStream). */
  private readonly goStreams = new WeakMap<Socket, GoMicroServerStream>()
  /** Upgraded sockets (node's server no longer tracks them as HTTP connections). */
  private readonly upgraded = new Set<Socket>()
  /** The last response begun on each connection: pipelined answers go out in order after it. */
  private readonly lastResponse = new WeakMap<Socket | Duplex, ServerResponse>()
  /** close() began, and the last request that arrived after that (Date.now()). */
  private drainStartedAt = 0
  private lastArrival = 0
  /** Every connection has closed (after close() began). */
  private allClosed?: Promise<void>
  private isAllClosed = false
  private readonly maxBody: number

  constructor(
    private readonly handler: TransportHandler,
    private readonly options: HttpListenerOptions,
  ) {
    super('http transport', options.logger)
    this.maxBody = maxBodySize(options.maxBodySize)
  }

  async listen(address: string): Promise<this> {
    const server = createServer({
      keepAliveTimeout: this.options.idleTimeout,
      noDelay: true,
      requireHostHeader: false,
      maxHeaderSize: MAX_HEADER_SIZE,
    })
    // Node keeps only the first 2,000 headers by default and drops the rest silently, which can
    // hide Micro-Service/Micro-Endpoint behind padding. MAX_HEADER_SIZE already bounds the head
    // (at most ~16k headers), so every header is read.
    server.maxHeadersCount = 0
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res))
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket as Socket, head),
    )
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket))
    await this.bind(server, address)
    return this
  }

  /**
   * Stop accepting, but keep the idle keep-alive connections for now: node's http close would
   * drop them at once, racing any request a client is writing on one (the client would see a
   * reset and could not tell whether its request ran). Requests that still arrive are answered
   * (with Connection: close) until linger() lets the connections go.
   */
  protected override stopAccepting(): Promise<void> {
    this.drainStartedAt = Date.now()
    this.allClosed = new Promise<void>((resolve) =>
      NetServer.prototype.close.call(this.server, () => {
        this.isAllClosed = true
        resolve()
      }),
    )
    return this.allClosed
  }

  /** Wait until no request has arrived for QUIET_MS and none is in flight, or every connection closed. */
  protected override async linger(remainingMs: number): Promise<void> {
    const until = Date.now() + remainingMs
    for (;;) {
      if (this.isAllClosed || Date.now() >= until) return
      await this.inFlight.settle(until - Date.now())
      const wait = QUIET_MS - (Date.now() - Math.max(this.drainStartedAt, this.lastArrival))
      if (wait <= 0) return
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        this.allClosed,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, Math.min(wait, Math.max(0, until - Date.now())))
        }),
      ])
      clearTimeout(timer)
    }
  }

  protected cutOff(reason: MicroError): void {
    // node's own close now: it stops its connection checks (accepting stopped already).
    this.server.close()
    for (const s of this.streams) s.abort(reason, true)
    for (const s of this.upgraded) s.destroy()
    // Connections that finished their last request while we waited are idle now; busy ones are cut off
    // (their handlers' signals fire through the responses' 'close').
    this.server.closeAllConnections()
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.draining) this.lastArrival = Date.now()
    this.lastResponse.set(req.socket, res)
    const method = req.method
    if (method === 'POST') this.onPost(req, res)
    else if (method === 'GET' || method === 'HEAD') this.onGet(req, res)
    else {
      const err = new MicroError(ERROR_ID, 405, `method ${method} not allowed: RPC requests are POST /`)
      this.plainError(res, 405, err, { Allow: 'GET, HEAD, POST' })
      req.resume()
    }
  }

  private onPost(req: IncomingMessage, res: ServerResponse): void {
    const goStream = this.goStreams.get(req.socket)
    if (goStream || req.headers['micro-stream']) {
      this.onGoMicroStream(req, goStream)
      return
    }
    const url = req.url ?? '/'
    if (url !== '/' && !url.startsWith('/?')) {
      req.resume()
      this.reply(
        res,
        errorMessage(new MicroError(ERROR_ID, 404, `no route POST ${pathOf(url)}: RPC requests are POST /`)),
      )
      return
    }
    const declared = req.headers['content-length']
    if (declared !== undefined && Number(declared) > this.maxBody) {
      this.tooLarge(req, res, Number(declared), 0)
      return
    }
    this.inFlight.started()
    const ctx = new Context(req.socket)
    res.once('close', () => {
      ctx.clearDeadline()
      // Closed before the answer went out: the client went away (or we are cutting connections).
      if (!res.writableFinished) {
        ctx.abort(
          this.forced ? shuttingDown() : new MicroError(ERROR_ID, 499, 'client closed the connection'),
        )
      }
      this.inFlight.finished()
    })
    let first: Buffer | undefined
    let chunks: Buffer[] | undefined
    let size = 0
    let over = false
    req.on('data', (chunk: Buffer) => {
      if (over) return
      size += chunk.length
      if (size > this.maxBody) {
        over = true
        first = undefined
        chunks = undefined
        req.removeAllListeners('data')
        this.tooLarge(req, res, size, size)
        return
      }
      if (first === undefined) first = chunk
      else if (chunks) chunks.push(chunk)
      else chunks = [first, chunk]
    })
    req.on('end', () => {
      if (over) return
      const body = chunks ? Buffer.concat(chunks, size) : (first ?? EMPTY)
      this.dispatch(req, res, ctx, body)
    })
    req.on('error', () => {
      // aborted mid-body: 'close' on the response cleans up
    })
  }

  private dispatch(req: IncomingMessage, res: ServerResponse, ctx: Context, body: Uint8Array): void {
    const headers = receivedHeaders(req.headers)
    const message: TransportMessage = { headers, body }
    callHandler(this.handler.request, this.handler, message, ctx).then(
      (reply) => this.reply(res, reply),
      (err: unknown) => this.reply(res, errorMessage(MicroError.from(err, ERROR_ID))),
    )
  }

  /** 200 with the message's headers and body (go-micro answers every RPC with 200). */
  private reply(res: ServerResponse, message: TransportMessage): void {
    if (res.headersSent || res.destroyed) return
    const body = message?.body ?? EMPTY
    const raw: string[] = ['Content-Length', String(body.length)]
    if (this.draining) raw.push('Connection', 'close')
    const headers = message?.headers
    for (const k in headers) {
      const v = headers[k]
      if (v === undefined || v === null || HOP_BY_HOP.has(k.toLowerCase())) continue
      const value = typeof v === 'string' ? v : String(v)
      raw.push(k, wireValue(value.length > MAX_HEADER_VALUE ? shorten(k, value) : value))
    }
    try {
      res.writeHead(200, raw)
    } catch (e) {
      // A header the handler returned cannot be sent (bad name): say so instead.
      const err = new MicroError(ERROR_ID, 500, `invalid reply header: ${(e as Error).message}`)
      res.writeHead(200, ['Content-Length', '0', 'Micro-Error', wireValue(err.toString())])
      res.end()
      return
    }
    if (body.length === 0) res.end()
    else if (body.length <= ONE_WRITE_MAX) {
      // Node writes headers and a latin1 string body as one chunk (one syscall, no writev); latin1
      // maps bytes 1:1, so the body goes out unchanged.
      res.end(latin1(body), 'latin1')
    } else res.end(body)
  }

  /** A non-RPC answer: status, JSON MicroError body, Micro-Error header too. */
  private plainError(
    res: ServerResponse,
    status: number,
    err: MicroError,
    extra: Record<string, string> = {},
  ): void {
    if (res.headersSent || res.destroyed) return
    const json = err.toString()
    res.writeHead(status, {
      ...extra,
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(json)),
      'Micro-Error': wireValue(json),
      ...(this.draining ? { Connection: 'close' } : {}),
    })
    res.end(json)
  }

  /**
   * 413 without buffering the body. The answer goes out at once; the rest of the body is read
   * and dropped so the client, still sending, gets to read it (closing with unread data would
   * reset the connection and lose the answer); then the connection is closed.
   */
  private tooLarge(req: IncomingMessage, res: ServerResponse, size: number, received: number): void {
    const err = new MicroError(
      ERROR_ID,
      413,
      received > 0
        ? `request body exceeds the limit of ${this.maxBody} bytes`
        : `request body of ${size} bytes exceeds the limit of ${this.maxBody} bytes`,
    )
    if (!res.headersSent && !res.destroyed) {
      res.writeHead(200, [
        'Content-Length',
        '0',
        'Connection',
        'close',
        'Micro-Error',
        wireValue(err.toString()),
      ])
      res.flushHeaders()
    }
    let discarded = 0
    const timer = setTimeout(() => req.socket.destroy(), DISCARD_MS)
    timer.unref()
    req.on('data', (chunk: Buffer) => {
      discarded += chunk.length
      if (discarded > DISCARD_LIMIT) req.socket.destroy()
    })
    req.once('end', () => {
      clearTimeout(timer)
      res.end() // finishes the response; Connection: close then ends the socket
    })
    req.once('close', () => clearTimeout(timer))
    req.resume()
  }

  private onGet(req: IncomingMessage, res: ServerResponse): void {
    req.resume()
    const path = pathOf(req.url ?? '/')
    const get = this.handler.get
    if (!get) {
      this.plainError(res, 404, new MicroError(ERROR_ID, 404, `no route GET ${path}`))
      return
    }
    this.inFlight.started()
    res.once('close', () => this.inFlight.finished())
    callHandler(get, this.handler, path).then(
      (r) => {
        if (!r) {
          this.plainError(res, 404, new MicroError(ERROR_ID, 404, `no route GET ${path}`))
          return
        }
        if (res.headersSent || res.destroyed) return
        const raw: string[] = ['Content-Length', String(r.body.length)]
        if (this.draining) raw.push('Connection', 'close')
        for (const k in r.headers ?? {}) {
          if (!HOP_BY_HOP.has(k.toLowerCase())) raw.push(k, wireValue(String(r.headers?.[k])))
        }
        res.writeHead(r.status, raw)
        res.end(r.body)
      },
      (e: unknown) => this.plainError(res, 500, MicroError.from(e, ERROR_ID)),
    )
  }

  /**
   * Malformed HTTP or garbage: answer 400 if the socket still takes it, and close the connection.
   * Requests pipelined before the bad bytes are answered first, in order (HTTP/1.1): the 400
   * waits for the last of their responses.
   */
  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
    let refused = false
    const refuse = () => {
      if (refused) return
      refused = true
      if (!socket.writable) {
        socket.destroy()
        return
      }
      socket.end(
        `HTTP/1.1 ${status} ${statusText(status) || 'Request Header Fields Too Large'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      )
      setTimeout(() => socket.destroy(), 1_000).unref()
    }
    const pending = this.lastResponse.get(socket)
    if (pending && !pending.writableFinished && !pending.destroyed) {
      pending.once('finish', refuse)
      pending.once('close', refuse)
    } else refuse()
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => {
      // reported through the stream (or irrelevant once we drop the socket)
    })
    this.upgraded.add(socket)
    socket.once('close', () => this.upgraded.delete(socket))
    if ((req.headers.upgrade ?? '').toLowerCase() !== UPGRADE_PROTOCOL) {
      const json = new MicroError(
        ERROR_ID,
        400,
        `unsupported upgrade "${req.headers.upgrade}": only ${UPGRADE_PROTOCOL}`,
      ).toString()
      socket.end(
        `HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`,
      )
      setTimeout(() => socket.destroy(), 1_000).unref()
      return
    }
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${UPGRADE_PROTOCOL}\r\n\r\n`,
    )
    const headers = receivedHeaders(req.headers)
    this.serveStream(new HttpServerStream(socket, headers, this.maxBody, head), socket)
  }

  /** Run the handler's stream function on `stream`; the stream counts as in flight until its socket closes. */
  private serveStream(stream: ServerStreamControl, socket: Socket): void {
    if (this.draining) {
      void stream.close(shuttingDown())
      return
    }
    const serve = this.handler.stream
    if (!serve) {
      void stream.close(new MicroError(ERROR_ID, 501, 'this server does not serve streams'))
      return
    }
    this.inFlight.started()
    this.streams.add(stream)
    const ctx = new StreamContext(stream, socket)
    let done = false
    const finish = () => {
      if (done) return
      done = true
      ctx.finish()
      this.streams.delete(stream)
      this.inFlight.finished()
    }
    socket.once('close', finish)
    callHandler(serve, this.handler, stream, ctx)
      .then(
        () => stream.close(),
        (err: unknown) => stream.close(MicroError.from(err, ERROR_ID)),
      )
      .finally(finish)
  }

  /**
   * A `POST /` that belongs to a go-micro client's stream (it has `Micro-Stream`, or arrives on a
   * connection such a stream owns). go-micro hijacks the connection here; node's server cannot,
   * so requests keep arriving through it (in order) and answers are written straight to the
   * socket, never through `res`. node keeps each request's objects until the connection closes,
   * a few KB per message: fine for RPC streams, not for endless ones (use our own client).
   */
  private onGoMicroStream(req: IncomingMessage, existing: GoMicroServerStream | undefined): void {
    const socket = req.socket
    let stream = existing
    if (!stream) {
      // Registered now, not at the end of the body: the next request can be parsed before that.
      const headers = receivedHeaders(req.headers)
      stream = new GoMicroServerStream(socket, headers)
      this.goStreams.set(socket, stream)
      socket.on('error', () => {})
      this.upgraded.add(socket)
      socket.once('close', () => this.upgraded.delete(socket))
    }
    const target = stream
    let chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size <= this.maxBody) chunks.push(chunk)
      else chunks = []
    })
    req.on('error', () => {})
    req.on('end', () => {
      if (size > this.maxBody) {
        const err = new MicroError(ERROR_ID, 413, `stream message exceeds the limit of ${this.maxBody} bytes`)
        target.abort(err, false)
        void target.close(err)
        return
      }
      if (existing) {
        existing.push(
          receivedHeaders(req.headers),
          chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size),
        )
        return
      }
      // The opening request: its body is the call's request, which go-micro discards for streams.
      this.serveStream(target, socket)
    })
  }
}

/**
 * A header value cut to MAX_HEADER_VALUE characters, so peers' header size limits are not hit
 * (node and undici refuse heads over 16 KiB by default). A Micro-Error stays valid JSON with its
 * id and code: only the detail is shortened.
 */
function shorten(name: string, value: string): string {
  if (name.toLowerCase() !== 'micro-error') return value.slice(0, MAX_HEADER_VALUE)
  const e = MicroError.parse(value)
  const detail = `${e.detail.slice(0, MAX_HEADER_VALUE - 300)}… (truncated)`
  return new MicroError(e.id, e.code, detail, e.status).toString()
}

function errorMessage(err: MicroError): TransportMessage {
  return { headers: { 'Micro-Error': err.toString() }, body: EMPTY }
}

function pathOf(url: string): string {
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}
