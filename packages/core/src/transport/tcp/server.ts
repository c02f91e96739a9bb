/**
 * The tcp transport's server: one `net` server; every connection carries many requests and
 * streams at once, each answered by id, in whatever order the handlers finish. What a client
 * can make it hold is bounded: connections (maxConnections), open streams per connection
 * (maxStreams), bytes no handler has taken yet (maxBuffered, see budget.ts), and time: a
 * connection with nothing in flight is closed after idleTimeout, a half-sent frame included.
 */
import { createServer, type Socket } from 'node:net'
import { MicroError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { LazyAbort } from '../../util/abort.js'
import { formatAddress } from '../../util/address.js'
import { callHandler, ListenerBase, maxBodySize, shuttingDown } from '../listener.js'
import type { ListenOptions, RequestContext, TransportHandler, TransportMessage } from '../types.js'
import { ReadBudget, type Reader } from './budget.js'
import {
  CANCEL,
  decodeMessage,
  FrameReader,
  type FrameSink,
  FrameWriter,
  GOAWAY,
  MAX_HEADER_BLOCK,
  PREFACE,
  REQUEST,
  RESPONSE,
  STREAM_END,
  STREAM_ERROR,
  STREAM_MESSAGE,
  STREAM_OPEN,
  STREAM_WINDOW,
} from './frames.js'
import { type StreamHost, TcpServerStream } from './stream.js'

const ERROR_ID = 'go.micro.server'
const EMPTY = Buffer.alloc(0)
/** How long a connection ended by a graceful close may take to close before it is dropped. */
const LINGER_MS = 2_000

export interface TcpListenerOptions extends ListenOptions {
  /** TCP keep-alive probes after this many ms of silence (finds dead clients). */
  keepAlive: number
  /** A connection with nothing in flight and no whole frame for this many ms is closed. */
  idleTimeout: number
  /** Most client connections held at once; more are closed as they arrive. */
  maxConnections: number
  /** Most streams one connection may have open; more are refused with 429. */
  maxStreams: number
  /** Most bytes held that no handler has taken yet, across connections (see ReadBudget). */
  maxBuffered: number
  logger: Logger
}

function errorMessage(err: MicroError): TransportMessage {
  return { headers: { 'Micro-Error': err.toString() }, body: EMPTY }
}

/** What the handler sees with each request; its AbortSignal is made only if asked for. */
class Context extends LazyAbort implements RequestContext {
  /** Answered, or given up with its connection: no longer counts as in flight. */
  done = false

  constructor(
    readonly conn: ServerConnection,
    readonly id: number,
    /** The request body's bytes, held in the read budget while the handler runs. */
    private readonly size: number,
  ) {
    super()
  }

  get remote(): string {
    return this.conn.remote
  }

  reply(message: TransportMessage): void {
    if (this.done) return
    this.finish()
    const conn = this.conn
    if (!conn.open) return
    try {
      conn.writer.message(RESPONSE, this.id, message ?? { headers: {}, body: EMPTY })
    } catch (e) {
      // A header that cannot be encoded: say so instead.
      conn.writer.message(
        RESPONSE,
        this.id,
        errorMessage(new MicroError(ERROR_ID, 500, `invalid reply: ${(e as Error).message}`)),
      )
    }
  }

  failed(err: unknown): void {
    this.reply(errorMessage(MicroError.from(err, ERROR_ID)))
  }

  /** No answer will be sent (the connection is gone); the handler's signal fires with `reason`. */
  drop(reason: MicroError): void {
    if (this.done) return
    this.finish()
    this.abort(reason)
  }

  private finish(): void {
    this.done = true
    this.clearDeadline()
    this.conn.requests.delete(this.id)
    this.conn.listener.budget.release(this.size)
    this.conn.listener.inFlight.finished()
  }
}

/** One client connection. */
class ServerConnection implements FrameSink, StreamHost, Reader {
  readonly writer: FrameWriter
  private readonly reader: FrameReader
  readonly requests = new Map<number, Context>()
  readonly streams = new Map<number, TcpServerStream>()
  readonly remote: string
  open = true
  private broken = false
  /** Budget bytes of the frame still arriving (0: none). */
  private reserved = 0
  /** Paused by the budget until the frame still arriving fits. */
  private waiting = false
  /** Whole frames read so far, and at the idle sweep before: unchanged and nothing in flight is idle. */
  private frames = 0
  private framesSeen = 0
  private idleSweeps = 0
  private closingIdle = false

  constructor(
    readonly listener: TcpListener,
    readonly socket: Socket,
  ) {
    this.remote = socket.remoteAddress ? formatAddress(socket.remoteAddress, socket.remotePort ?? 0) : ''
    this.writer = new FrameWriter(socket)
    this.reader = new FrameReader(this, listener.maxBody + 4 + MAX_HEADER_BLOCK)
    socket.setNoDelay(true)
    socket.setKeepAlive(true, listener.options.keepAlive)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', () => {
      // 'close' follows
    })
    socket.on('end', () => socket.destroy())
    socket.on('close', () => this.onClose())
    this.writer.raw(PREFACE)
    if (listener.draining) this.writer.control(GOAWAY, 0)
  }

  writable(): boolean {
    return this.open && !this.socket.destroyed
  }

  release(id: number): void {
    if (this.streams.delete(id)) this.listener.inFlight.finished()
  }

  get maxUnread(): number {
    return this.listener.maxUnread
  }

  holdBytes(bytes: number): void {
    this.listener.budget.hold(this, bytes)
  }

  freeBytes(bytes: number): void {
    this.listener.budget.release(bytes)
  }

  /** The budget stops reading this connection. */
  pause(): void {
    this.socket.pause()
  }

  /** The budget lets this connection be read again (its frame's bytes are held now). */
  resume(): void {
    this.waiting = false
    if (this.open) this.socket.resume()
  }

  /** FrameSink: a frame of `length` bytes is still arriving; hold them (or wait until they fit). */
  partial(length: number): void {
    this.reserved = length
    this.waiting = !this.listener.budget.admit(this, length)
  }

  /**
   * Called by the listener's idle sweep: a connection with nothing in flight that read no whole
   * frame since the sweep before the last is told to go away, then closed.
   */
  sweep(): void {
    if (this.busy() || this.frames !== this.framesSeen) {
      this.framesSeen = this.frames
      this.idleSweeps = 0
      return
    }
    if (++this.idleSweeps >= 2) this.closeIdle()
  }

  /** GOAWAY: our clients close the connection once nothing is in flight; others are dropped. */
  private closeIdle(): void {
    if (this.closingIdle || !this.open) return
    this.closingIdle = true
    this.goAway()
    const linger = () => {
      if (!this.open) return
      // A request written before the client read GOAWAY is still answered.
      if (this.busy()) setTimeout(linger, LINGER_MS).unref()
      else this.socket.destroy()
    }
    setTimeout(linger, LINGER_MS).unref()
  }

  /** In-flight work on this connection. */
  busy(): boolean {
    return this.requests.size > 0 || this.streams.size > 0
  }

  private onData(chunk: Buffer): void {
    if (this.broken) return
    try {
      this.reader.push(chunk)
    } catch (e) {
      this.broken = true
      const reason = e instanceof MicroError ? e.detail : String(e)
      this.listener.options.logger.warn(
        { remote: this.remote, reason },
        'tcp transport: closing a connection that sent bytes the transport cannot read',
      )
      this.socket.destroy()
    }
  }

  frame(type: number, id: number, payload: Buffer): void {
    this.frames++
    if (this.reserved > 0) {
      // The frame that was arriving is whole: what it takes from now on is held per request or message.
      this.listener.budget.release(this.reserved)
      this.reserved = 0
    }
    switch (type) {
      case REQUEST:
        this.listener.request(this, id, payload)
        return
      case CANCEL: {
        const code = payload.length >= 4 ? payload.readUInt32BE(0) : 499
        this.requests
          .get(id)
          ?.abort(
            new MicroError(
              ERROR_ID,
              code === 408 ? 408 : 499,
              code === 408 ? 'the client’s deadline passed' : 'the client canceled the request',
            ),
          )
        return
      }
      case STREAM_OPEN:
        this.listener.openStream(this, id, payload)
        return
      case STREAM_MESSAGE: {
        const s = this.streams.get(id)
        if (s) {
          const m = decodeMessage(payload)
          if (m.body.length > this.listener.maxBody) s.abort(this.tooLarge(m.body.length), true)
          else s.deliver(m)
        }
        return
      }
      case STREAM_END:
        this.streams.get(id)?.remoteEnd()
        return
      case STREAM_ERROR:
        this.streams.get(id)?.abort(MicroError.parse(payload.toString('utf8')), false)
        return
      case STREAM_WINDOW:
        if (payload.length >= 4) this.streams.get(id)?.grant(payload.readUInt32BE(0))
        return
      default:
        throw new MicroError(ERROR_ID, 400, `unexpected frame type ${type} from a client`)
    }
  }

  oversized(type: number, id: number, length: number): boolean {
    const err = this.tooLarge(length)
    if (type === REQUEST) {
      if (!this.requests.has(id)) this.writer.message(RESPONSE, id, errorMessage(err))
    } else if (type === STREAM_OPEN) {
      this.writer.error(id, err)
    } else if (type === STREAM_MESSAGE) {
      this.streams.get(id)?.abort(err, true)
    } else return false
    return true
  }

  tooLarge(size: number): MicroError {
    return new MicroError(
      ERROR_ID,
      413,
      `request body of ${size} bytes exceeds the limit of ${this.listener.maxBody} bytes`,
    )
  }

  /** Tell the client to send nothing new here. */
  goAway(): void {
    if (this.open) this.writer.control(GOAWAY, 0)
  }

  /** Graceful end: flush what is queued, FIN, drop if the client lingers. */
  end(): void {
    if (!this.open) return
    this.writer.flush()
    this.socket.end()
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref()
  }

  /** Cut off whatever still runs, with `reason`, and drop the connection. */
  cut(reason: MicroError): void {
    for (const ctx of [...this.requests.values()]) ctx.drop(reason)
    for (const s of [...this.streams.values()]) s.abort(reason, false)
    this.socket.destroy()
  }

  private onClose(): void {
    this.open = false
    this.writer.close()
    this.listener.connections.delete(this)
    const budget = this.listener.budget
    budget.forget(this)
    if (this.reserved > 0 && !this.waiting) budget.release(this.reserved)
    this.reserved = 0
    const reason = this.listener.forced
      ? shuttingDown()
      : new MicroError(ERROR_ID, 499, 'client closed the connection')
    for (const ctx of [...this.requests.values()]) ctx.drop(reason)
    for (const s of [...this.streams.values()]) s.abort(reason, false)
  }
}

export class TcpListener extends ListenerBase {
  readonly connections = new Set<ServerConnection>()
  readonly maxBody: number
  readonly budget: ReadBudget
  /** Unread bytes one stream may hold (a quarter of the budget, at least one message). */
  readonly maxUnread: number
  private sweeper?: NodeJS.Timeout
  private lastDropLog = 0

  constructor(
    private readonly handler: TransportHandler,
    readonly options: TcpListenerOptions,
  ) {
    super('tcp transport', options.logger)
    this.maxBody = maxBodySize(options.maxBodySize)
    // Any single frame must fit, or a large request could never be read.
    this.budget = new ReadBudget(Math.max(options.maxBuffered, this.maxBody + MAX_HEADER_BLOCK + 4))
    this.maxUnread = Math.max(this.maxBody, Math.floor(options.maxBuffered / 4))
  }

  async listen(address: string): Promise<this> {
    const server = createServer({ noDelay: true })
    server.maxConnections = this.options.maxConnections
    server.on('connection', (socket: Socket) => {
      if (this.forced) {
        socket.destroy()
        return
      }
      this.connections.add(new ServerConnection(this, socket))
    })
    server.on('drop', () => {
      const now = Date.now()
      if (now - this.lastDropLog < 10_000) return
      this.lastDropLog = now
      this.logger.warn(
        { maxConnections: this.options.maxConnections },
        'tcp transport: refusing connections past maxConnections',
      )
    })
    await this.bind(server, address)
    this.sweeper = setInterval(
      () => {
        for (const c of this.connections) c.sweep()
      },
      Math.max(10, this.options.idleTimeout / 2),
    )
    this.sweeper.unref()
    return this
  }

  /** Clients stop sending new work and close their connections once their answers are in. */
  protected override drain(): void {
    if (this.sweeper) clearInterval(this.sweeper)
    for (const c of this.connections) c.goAway()
  }

  protected cutOff(reason: MicroError): void {
    for (const c of [...this.connections]) {
      if (c.busy()) c.cut(reason)
      else c.end()
    }
  }

  request(conn: ServerConnection, id: number, payload: Buffer): void {
    if (conn.requests.has(id)) throw new MicroError(ERROR_ID, 400, `request id ${id} is already in flight`)
    const message = decodeMessage(payload)
    if (message.body.length > this.maxBody) {
      conn.writer.message(RESPONSE, id, errorMessage(conn.tooLarge(message.body.length)))
      return
    }
    if (this.draining) {
      // Not run: the client may send it elsewhere (go-micro's draining answer).
      conn.writer.message(RESPONSE, id, errorMessage(shuttingDown()))
      return
    }
    const ctx = new Context(conn, id, message.body.length)
    conn.requests.set(id, ctx)
    this.budget.hold(conn, message.body.length)
    this.inFlight.started()
    callHandler(this.handler.request, this.handler, message, ctx).then(
      (reply) => ctx.reply(reply),
      (err: unknown) => ctx.failed(err),
    )
  }

  openStream(conn: ServerConnection, id: number, payload: Buffer): void {
    if (conn.streams.has(id)) throw new MicroError(ERROR_ID, 400, `stream id ${id} is already open`)
    const message = decodeMessage(payload)
    if (message.body.length > this.maxBody) {
      conn.writer.error(id, conn.tooLarge(message.body.length))
      return
    }
    if (this.draining) {
      conn.writer.error(id, shuttingDown())
      return
    }
    const serve = this.handler.stream
    if (!serve) {
      conn.writer.error(id, new MicroError(ERROR_ID, 501, 'this server does not serve streams'))
      return
    }
    if (conn.streams.size >= this.options.maxStreams) {
      conn.writer.error(
        id,
        new MicroError(
          ERROR_ID,
          429,
          `too many open streams on this connection (maxStreams ${this.options.maxStreams})`,
        ),
      )
      return
    }
    const stream = new TcpServerStream(conn, id, message.headers)
    conn.streams.set(id, stream)
    this.inFlight.started()
    if (message.body.length > 0) stream.deliver({ headers: {}, body: message.body }, false)
    callHandler(serve, this.handler, stream, stream).then(
      () => stream.close(),
      (err: unknown) => stream.close(MicroError.from(err, ERROR_ID)),
    )
  }
}
