/**
 * The listener: a grpc-js server with go-micro's one method. Every call of it is a go-micro
 * transport "socket" and is served like go-micro's `rpcServer.ServeConn`: a message without
 * `Micro-Stream` is one unary request answered with one message (go-micro's pooled clients send
 * the next request on the same socket once the answer arrived); a message with `Micro-Stream`
 * opens a bidirectional stream that owns the socket from then on.
 */
import { Metadata, Server, type ServerDuplexStream, type ServerErrorResponse, status } from '@grpc/grpc-js'
import {
  LazyAbort,
  type Listener,
  type Logger,
  MicroError,
  type RequestContext,
  type ServerStream,
  type TransportHandler,
  type TransportMessage,
} from '@micro-ts/core'
import { atDeadline, formatAddress, type LongTimer, parseAddress } from '@micro-ts/core/plugin'
import { Inbox } from './inbox.js'
import {
  deserialize,
  EMPTY,
  receivedHeaders,
  STREAM_PATH,
  serialize,
  streamEnd,
  type WireMessage,
  wireHeaders,
} from './message.js'
import {
  DEFAULT_GRACE_MS,
  type GrpcTlsOptions,
  HEADER_ALLOWANCE,
  SERVER_ID,
  serverCredentials,
} from './options.js'

/**
 * Trailer our listener sets when it ends a socket: no message after the last answer was (or will
 * be) processed, so a client whose request was in that window knows it never ran.
 */
export const UNPROCESSED_TRAILER = 'micro-unprocessed'

export interface GrpcListenerOptions {
  maxBodySize: number
  keepaliveTime?: number
  keepaliveTimeout: number
  tls?: GrpcTlsOptions
  logger: Logger
}

type Call = ServerDuplexStream<WireMessage, WireMessage>

function errorMessage(err: MicroError): WireMessage {
  return { header: { 'Micro-Error': err.toString() }, body: EMPTY }
}

/**
 * What a unary handler sees. Its AbortSignal is made only if someone reads it (core's server
 * listens through `onAbort`): an AbortController per request is a large share of a small call.
 */
class RequestCtx extends LazyAbort implements RequestContext {
  constructor(readonly remote: string) {
    super()
  }

  /** The request finished: its deadline (set by the RPC server through abortAt) holds no timer. */
  done(): void {
    this.clearDeadline()
  }
}

export class GrpcListener implements Listener {
  private server?: Server
  private _address = ''
  private readonly sockets = new Set<ServerSocket>()
  draining = false
  /** Past the grace period: whatever still runs is cut off (503). */
  forced = false
  private closing?: Promise<void>

  constructor(
    readonly handler: TransportHandler,
    readonly options: GrpcListenerOptions,
  ) {}

  get address(): string {
    return this._address
  }

  get maxBodySize(): number {
    return this.options.maxBodySize
  }

  async listen(address: string): Promise<this> {
    const { host, port } = parseAddress(address, SERVER_ID)
    const creds = serverCredentials(this.options.tls)
    const o = this.options
    const server = new Server({
      // Bodies up to maxBodySize get a 413 answer we write ourselves; beyond this gRPC fails the call.
      'grpc.max_receive_message_length': o.maxBodySize + HEADER_ALLOWANCE,
      'grpc.max_send_message_length': -1,
      ...(o.keepaliveTime ? { 'grpc.keepalive_time_ms': o.keepaliveTime } : {}),
      'grpc.keepalive_timeout_ms': o.keepaliveTimeout,
    })
    server.addService(
      {
        Stream: {
          path: STREAM_PATH,
          requestStream: true,
          responseStream: true,
          requestSerialize: serialize,
          requestDeserialize: deserialize,
          responseSerialize: serialize,
          responseDeserialize: deserialize,
          originalName: 'stream',
        },
      },
      { Stream: (call: Call) => this.onCall(call) },
    )
    // `:port` listens on every interface, like Go's net.Listen.
    const bindHost = host === '' ? '::' : host
    const bound = await new Promise<number>((resolve, reject) => {
      server.bindAsync(formatAddress(bindHost, port), creds, (err, p) => {
        if (err)
          reject(
            new MicroError(SERVER_ID, 500, `cannot listen on ${address}: ${err.message}`, undefined, {
              cause: err,
            }),
          )
        else resolve(p)
      })
    })
    this.server = server
    this._address = formatAddress(bindHost, bound)
    return this
  }

  close(graceMs = DEFAULT_GRACE_MS): Promise<void> {
    if (!this.closing) this.closing = this.shutdown(graceMs)
    return this.closing
  }

  private async shutdown(graceMs: number): Promise<void> {
    const server = this.server
    if (!server) return
    this.draining = true
    // Idle sockets end now; busy ones after their answer; streams run on until the grace ends.
    for (const s of this.sockets) s.drain()
    let timer: NodeJS.Timeout | undefined
    const closed = new Promise<boolean>((resolve) => server.tryShutdown(() => resolve(true)))
    const graceful =
      graceMs > 0
        ? await Promise.race([
            closed,
            new Promise<boolean>((r) => (timer = setTimeout(() => r(false), graceMs))),
          ])
        : false
    clearTimeout(timer)
    if (graceful) return
    this.forced = true
    const err = new MicroError(SERVER_ID, 503, 'server shutting down')
    for (const s of this.sockets) s.abort(err)
    // Synchronous: every session is destroyed now; clients learn it on their next I/O turn.
    server.forceShutdown()
  }

  private onCall(call: Call): void {
    const socket = new ServerSocket(call, this)
    this.sockets.add(socket)
    socket.onFinish = () => this.sockets.delete(socket)
    if (this.draining) socket.drain()
  }
}

/** One gRPC call of the Stream method: go-micro's transport socket, server side. */
class ServerSocket {
  private readonly queue: WireMessage[] = []
  /** The unary request being served (at most one at a time, in arrival order). */
  private busy?: RequestCtx
  private stream?: GrpcServerStream
  private halfClosed = false
  /** We decided to end the call: nothing received from now on is processed. */
  private ending = false
  private finished = false
  private closeAfterReply = false
  readonly remote: string
  onFinish?: () => void

  constructor(
    private readonly call: Call,
    private readonly listener: GrpcListener,
  ) {
    this.remote = peerAddress(call.getPeer())
    call.on('data', (m: WireMessage) => this.onMessage(m))
    call.on('end', () => this.onHalfClose())
    call.on('cancelled', () => this.onCancelled())
    call.on('error', () => {
      // grpc-js reports what matters through 'cancelled'; a stream error must not crash the process
    })
    call.on('finish', () => this.finish())
    call.on('close', () => this.finish())
  }

  private onMessage(m: WireMessage): void {
    if (this.ending || this.finished) return
    if (this.stream) {
      this.stream.deliver(m)
      return
    }
    this.queue.push(m)
    this.pump()
  }

  /** Serve queued messages one at a time; end the call once the client is done with it. */
  private pump(): void {
    while (!this.busy && !this.stream && !this.ending && this.queue.length > 0) {
      const m = this.queue.shift() as WireMessage
      const headers = receivedHeaders(m.header)
      if (headers['micro-stream'] !== undefined) {
        // A go-micro client's EOS for a stream this socket no longer has: nothing to do (go-micro: close after it).
        if (streamEnd(headers) !== undefined) {
          this.closeAfterReply = true
          continue
        }
        const stream = this.startStream(headers)
        for (const rest of this.queue.splice(0)) stream.deliver(rest)
        return
      }
      if (m.body.length > this.listener.maxBodySize) {
        this.write(
          errorMessage(
            new MicroError(
              SERVER_ID,
              413,
              `request body of ${m.body.length} bytes exceeds the limit of ${this.listener.maxBodySize} bytes`,
            ),
          ),
        )
        continue
      }
      this.startRequest(headers, m.body)
    }
    if (!this.busy && !this.stream && this.queue.length === 0 && (this.halfClosed || this.closeAfterReply)) {
      this.end()
    }
  }

  private startRequest(headers: Record<string, string>, body: Uint8Array): void {
    if (this.listener.draining && !this.listener.forced) {
      // Arrived after the listener began to drain: refuse, unprocessed, so the client can go elsewhere.
      this.end()
      return
    }
    const ctx = new RequestCtx(this.remote)
    this.busy = ctx
    if (headers.connection?.toLowerCase() === 'close') this.closeAfterReply = true
    const message: TransportMessage = { headers, body }
    let result: Promise<TransportMessage>
    try {
      result = this.listener.handler.request(message, ctx)
    } catch (e) {
      result = Promise.reject(e)
    }
    result
      .then(
        (reply) => {
          if (!reply || typeof reply !== 'object') {
            return errorMessage(new MicroError(SERVER_ID, 500, 'the handler returned no message'))
          }
          return { header: wireHeaders(reply.headers), body: reply.body ?? EMPTY }
        },
        (err: unknown) => errorMessage(MicroError.from(err, SERVER_ID)),
      )
      .then((reply) => {
        ctx.done()
        if (this.busy === ctx) this.busy = undefined
        this.write(reply)
        if (this.listener.draining) this.closeAfterReply = true
        this.pump()
      })
  }

  private startStream(headers: Record<string, string>): GrpcServerStream {
    const stream = new GrpcServerStream(this, headers, this.listener.maxBodySize)
    this.stream = stream
    const serve = this.listener.handler.stream
    if (!serve) {
      void stream.close(new MicroError(SERVER_ID, 501, 'this server does not serve streams'))
      return stream
    }
    if (this.listener.draining) {
      void stream.close(new MicroError(SERVER_ID, 503, 'server shutting down'))
      return stream
    }
    // The RPC server reads go-micro's Timeout header and sets the deadline through abortAt.
    let timer: LongTimer | undefined
    const ctx: RequestContext = {
      signal: stream.signal,
      remote: this.remote,
      abortAt: (deadline, reason) => {
        timer?.clear()
        timer = atDeadline(deadline, () => stream.abort(reason()))
      },
    }
    let result: Promise<void>
    try {
      result = serve.call(this.listener.handler, stream, ctx)
    } catch (e) {
      result = Promise.reject(e)
    }
    result
      .then(
        () => stream.close(),
        (err: unknown) => stream.close(MicroError.from(err, SERVER_ID)),
      )
      .finally(() => timer?.clear())
    return stream
  }

  /** The stream ended both ways: the socket is done. */
  streamDone(): void {
    this.end('done')
  }

  write(m: WireMessage, done?: (error?: Error | null) => void): boolean {
    if (this.finished || this.ending) {
      done?.(new Error('socket closed'))
      return false
    }
    return this.call.write(m, done)
  }

  pauseReading(): void {
    this.call.pause()
  }

  resumeReading(): void {
    this.call.resume()
  }

  private onHalfClose(): void {
    this.halfClosed = true
    // A go-micro client never half-closes a stream it uses; treat it as the end of its side.
    this.stream?.remoteEnd()
    this.pump()
  }

  /**
   * End the call: `done` after a finished stream (OK), `unprocessed` otherwise. Then anything not yet
   * processed stays unprocessed, which the trailer says; a draining listener ends such sockets
   * with UNAVAILABLE (go-micro clients then drop them), otherwise they end with OK.
   */
  end(kind: 'done' | 'unprocessed' = 'unprocessed'): void {
    if (this.ending || this.finished) return
    this.ending = true
    this.queue.length = 0
    const trailer = new Metadata()
    if (kind === 'unprocessed') trailer.set(UNPROCESSED_TRAILER, '1')
    if (kind === 'unprocessed' && this.listener.draining) {
      const err: ServerErrorResponse = Object.assign(new Error('server shutting down'), {
        code: status.UNAVAILABLE,
        details: 'server shutting down',
        metadata: trailer,
      })
      this.call.emit('error', err)
    } else {
      this.call.end(trailer)
    }
  }

  /** The listener is closing: end now if idle, otherwise after the answer in flight. */
  drain(): void {
    if (!this.busy && !this.stream) this.end()
    else if (this.busy) this.closeAfterReply = true
  }

  abort(reason: MicroError): void {
    this.busy?.abort(reason)
    this.stream?.abort(reason)
  }

  private onCancelled(): void {
    const reason = this.listener.forced
      ? new MicroError(SERVER_ID, 503, 'server shutting down')
      : new MicroError(SERVER_ID, 499, 'the client went away')
    this.abort(reason)
    this.finish()
  }

  private finish(): void {
    if (this.finished) return
    this.finished = true
    this.ending = true
    this.queue.length = 0
    this.busy?.done()
    // A stream whose call is over: its handler's signal fires, like a request whose client left.
    this.stream?.over(new MicroError(SERVER_ID, 499, 'stream: the call is over'))
    this.onFinish?.()
  }
}

/** A stream on our listener: go-micro's conventions (EOS / error JSON in `Micro-Error`). */
class GrpcServerStream implements ServerStream {
  private readonly inbox: Inbox
  private readonly controller = new AbortController()
  private localEnded = false
  private remoteEnded = false

  constructor(
    private readonly socket: ServerSocket,
    readonly headers: Record<string, string>,
    private readonly maxBody: number,
  ) {
    this.inbox = new Inbox(
      () => socket.pauseReading(),
      () => socket.resumeReading(),
    )
  }

  get signal(): AbortSignal {
    return this.controller.signal
  }

  send(message: TransportMessage): Promise<void> {
    if (this.signal.aborted) return Promise.reject(this.signal.reason)
    if (this.localEnded) return Promise.reject(new MicroError(SERVER_ID, 500, 'stream: send after close'))
    return new Promise((resolve, reject) => {
      this.socket.write({ header: wireHeaders(message?.headers), body: message?.body ?? EMPTY }, (err) => {
        if (err)
          reject(
            this.signal.aborted
              ? this.signal.reason
              : new MicroError(SERVER_ID, 499, 'stream: the client went away'),
          )
        else resolve()
      })
    })
  }

  recv(): Promise<TransportMessage | undefined> {
    return this.inbox.recv()
  }

  async close(error?: Error): Promise<void> {
    if (this.localEnded) return
    this.localEnded = true
    const value = error ? MicroError.from(error, SERVER_ID).toString() : 'EOS'
    this.socket.write({ header: { 'Micro-Error': value }, body: EMPTY })
    this.settle()
  }

  /** A message from the client on this stream. */
  deliver(m: WireMessage): void {
    if (this.remoteEnded) return
    const headers = receivedHeaders(m.header)
    const end = streamEnd(headers)
    if (end === 'eos') {
      this.remoteEnd()
    } else if (end !== undefined) {
      this.remoteEnded = true
      this.inbox.end(MicroError.parse(end))
      this.settle()
    } else if (m.body.length > this.maxBody) {
      const err = new MicroError(SERVER_ID, 413, `stream message exceeds the limit of ${this.maxBody} bytes`)
      this.abort(err)
      void this.close(err)
    } else {
      this.inbox.push({ headers, body: m.body })
    }
  }

  remoteEnd(): void {
    if (this.remoteEnded) return
    this.remoteEnded = true
    this.inbox.end()
    this.settle()
  }

  abort(reason: MicroError): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason)
    this.inbox.fail(reason)
  }

  /** The call ended: the signal fires; what the client sent before its end can still be read. */
  over(reason: MicroError): void {
    if (this.remoteEnded) {
      if (!this.controller.signal.aborted) this.controller.abort(reason)
    } else this.abort(reason)
  }

  private settle(): void {
    if (this.localEnded && this.remoteEnded) this.socket.streamDone()
  }
}

/** grpc-js' peer string (`1.2.3.4:5`, `::1:5`) as `host:port` with IPv6 bracketed. */
function peerAddress(peer: string): string {
  if (peer.startsWith('[')) return peer
  const i = peer.lastIndexOf(':')
  if (i <= 0) return peer
  const host = peer.slice(0, i)
  return host.includes(':') ? `[${host}]${peer.slice(i)}` : peer
}
