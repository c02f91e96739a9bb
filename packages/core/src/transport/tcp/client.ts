/**
 * The tcp transport's client connection: one socket to one address carrying many requests and
 * streams at once. Requests wait (unwritten) until the server's preface arrived, so a failure
 * before that provably never reached a handler (`delivered: false`).
 */
import { connect, type Socket } from 'node:net'
import { MicroError, TransportError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { type StreamOpening, socketCause, WatchedCall } from '../net.js'
import type { RequestOptions, TransportMessage } from '../types.js'
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
import { type StreamHost, TcpClientStream } from './stream.js'

const ERROR_ID = 'go.micro.client'

export interface ConnectionOptions {
  host: string
  port: number
  connectTimeout: number
  maxResponseSize: number
  keepAlive: number
  logger: Logger
}

/** One unary request waiting for its answer. */
class Pending extends WatchedCall {
  resolve!: (message: TransportMessage) => void
  reject!: (error: MicroError) => void
  /** Handed to the socket: from here on a lost connection means "may have run". */
  written = false
  /** Still to be written once the connection is ready. */
  message?: TransportMessage

  constructor(
    readonly conn: ClientConnection,
    readonly id: number,
  ) {
    super()
  }

  expire(): void {
    this.conn.abandon(this, this.conn.timedOut(this), 408)
  }

  protected canceled(reason: MicroError): void {
    this.conn.abandon(this, reason, 499)
  }
}

/** A stream open waiting for the connection. */
interface QueuedOpen {
  open(): void
  reject(error: MicroError): void
}

type State = 'connecting' | 'ready' | 'draining' | 'closed'

export class ClientConnection implements FrameSink, StreamHost {
  readonly writer: FrameWriter
  private readonly reader: FrameReader
  private readonly socket: Socket
  private state: State = 'connecting'
  /** The server's preface arrived: frames may be written. */
  private ready = false
  private readonly pending = new Map<number, Pending>()
  private readonly streams = new Map<number, TcpClientStream>()
  /** Requests and stream opens waiting for the connection to be ready, in order. */
  private waiting: (Pending | QueuedOpen)[] = []
  private nextId = 0
  private connectTimer?: NodeJS.Timeout
  /** Why the connection ended (for the errors of what was in flight). */
  private reason?: string
  private connected = false
  /** The socket keeps the process alive only while something is in flight. */
  private refed = true
  /** Set on every use; cleared by the transport's idle sweep. */
  used = true
  /** Resolves when the socket has closed. */
  private readonly closed: Promise<void>

  constructor(
    readonly address: string,
    private readonly o: ConnectionOptions,
  ) {
    const socket = connect({ host: o.host, port: o.port, noDelay: true })
    this.socket = socket
    this.writer = new FrameWriter(socket)
    this.reader = new FrameReader(this, o.maxResponseSize + 4 + MAX_HEADER_BLOCK)
    this.connectTimer = setTimeout(() => this.fail('connect timeout'), o.connectTimeout)
    socket.on('connect', () => {
      this.connected = true
      socket.setKeepAlive(true, o.keepAlive)
      this.writer.raw(PREFACE)
    })
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!this.reason) this.reason = socketCause(err)
    })
    socket.on('end', () => {
      if (!this.reason) this.reason = 'the server closed the connection'
      socket.destroy()
    })
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()))
    socket.on('close', () => this.onClose())
  }

  /** Takes new requests (not draining, not closed). */
  get usable(): boolean {
    return this.state === 'connecting' || this.state === 'ready'
  }

  /** Nothing in flight. */
  get idle(): boolean {
    return this.pending.size === 0 && this.streams.size === 0 && this.waiting.length === 0
  }

  writable(): boolean {
    return this.state !== 'closed' && !this.socket.destroyed
  }

  get remote(): string {
    return this.address
  }

  release(id: number): void {
    this.streams.delete(id)
    this.settled()
  }

  /** A client keeps what its own streams have not read (bounded by the window); it has no read budget. */
  readonly maxUnread = Number.POSITIVE_INFINITY

  holdBytes(): void {}

  freeBytes(): void {}

  request(message: TransportMessage, options: RequestOptions | undefined): Promise<TransportMessage> {
    this.used = true
    if (!this.refed) this.busy()
    const p = new Pending(this, this.id())
    const promise = new Promise<TransportMessage>((resolve, reject) => {
      p.resolve = resolve
      p.reject = reject
    })
    this.pending.set(p.id, p)
    p.watch(options)
    if (this.pending.get(p.id) !== p) return promise // canceled at once
    if (this.ready) this.write(p, message)
    else {
      p.message = message
      this.waiting.push(p)
    }
    return promise
  }

  /** Open a stream: resolves once the opening frame is handed to the socket. */
  stream(message: TransportMessage): StreamOpening<TcpClientStream> {
    this.used = true
    if (!this.refed) this.busy()
    let queued: QueuedOpen | undefined
    const promise = new Promise<TcpClientStream>((resolve, reject) => {
      const open = () => {
        if (!this.ready || this.state === 'closed') {
          reject(this.lostError(false))
          return
        }
        const stream = new TcpClientStream(this, this.id(), this.address)
        try {
          this.writer.message(STREAM_OPEN, stream.id, message)
        } catch (e) {
          reject(MicroError.from(e, ERROR_ID))
          return
        }
        this.streams.set(stream.id, stream)
        resolve(stream)
      }
      if (this.ready) open()
      else {
        queued = { open, reject }
        this.waiting.push(queued)
      }
    })
    return {
      promise,
      // Only an open still waiting for the connection can be cut short here; an open one is the stream's.
      abort: (reason) => {
        const i = queued ? this.waiting.indexOf(queued) : -1
        if (i === -1 || !queued) return
        this.waiting.splice(i, 1)
        queued.reject(reason)
        this.settled()
      },
    }
  }

  /** Deadline or cancellation of one request: reject it, and tell the server if it has it. */
  abandon(p: Pending, error: MicroError, code: number): void {
    if (this.pending.get(p.id) !== p) return
    this.pending.delete(p.id)
    p.unwatch()
    if (p.written) {
      if (this.writable()) this.writer.number(CANCEL, p.id, code)
    } else p.message = undefined
    p.reject(error)
    this.settled()
  }

  /** Close now; whatever is in flight fails with `reason`. */
  destroy(reason: string): void {
    if (!this.reason) this.reason = reason
    this.socket.destroy()
  }

  /** Close once nothing is in flight (no new work is accepted from now on); resolves once closed. */
  drain(): Promise<void> {
    if (this.state === 'ready' || this.state === 'connecting') this.state = 'draining'
    this.maybeEnd()
    return this.closed
  }

  timedOut(p: Pending): MicroError {
    return new MicroError(ERROR_ID, 408, `request to ${this.address} timed out after ${p.timeout}ms`)
  }

  /** Something is in flight: keep the process alive. */
  private busy(): void {
    this.refed = true
    this.socket.ref()
  }

  /** Nothing in flight: an idle pooled connection does not keep the process alive. */
  private rest(): void {
    if (this.refed && this.idle) {
      this.refed = false
      this.socket.unref()
    }
  }

  private id(): number {
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1
    return this.nextId
  }

  private write(p: Pending, message: TransportMessage): void {
    try {
      this.writer.message(REQUEST, p.id, message)
    } catch (e) {
      this.pending.delete(p.id)
      p.unwatch()
      p.reject(
        new TransportError(`request to ${this.address} is invalid: ${(e as Error).message}`, {
          delivered: false,
          code: 400,
        }),
      )
      this.settled()
      return
    }
    p.written = true
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return
    try {
      this.reader.push(chunk)
    } catch (e) {
      const reason = e instanceof MicroError ? e.detail : String(e)
      this.o.logger.warn(
        { address: this.address, reason },
        'tcp transport: closing a connection whose server sent bytes the transport cannot read',
      )
      this.fail(reason)
    }
  }

  frame(type: number, id: number, payload: Buffer): void {
    switch (type) {
      case RESPONSE: {
        const p = this.pending.get(id)
        if (!p) return // abandoned (deadline, cancellation): its late answer is dropped
        this.pending.delete(id)
        p.unwatch()
        // An answer read after the deadline lost the race with our own timer (both fire in the same
        // millisecond; the loop may read the socket first): the caller's deadline still decides.
        if (p.expiresAt !== 0 && Date.now() >= p.expiresAt) p.reject(this.timedOut(p))
        else {
          const message = decodeMessage(payload)
          if (message.body.length > this.o.maxResponseSize) p.reject(this.tooLarge())
          else p.resolve(message)
        }
        if (this.pending.size === 0) this.settled()
        return
      }
      case STREAM_MESSAGE: {
        const s = this.streams.get(id)
        if (!s) return
        const m = decodeMessage(payload)
        if (m.body.length > this.o.maxResponseSize) s.abort(this.tooLarge())
        else s.deliver(m)
        return
      }
      case STREAM_END:
        this.streams.get(id)?.remoteEnd()
        return
      case STREAM_ERROR:
        this.streams.get(id)?.remoteEnd(MicroError.parse(payload.toString('utf8')))
        return
      case STREAM_WINDOW:
        if (payload.length >= 4) this.streams.get(id)?.grant(payload.readUInt32BE(0))
        return
      case GOAWAY:
        void this.drain()
        return
      default:
        throw new MicroError(ERROR_ID, 400, `unexpected frame type ${type} from a server`)
    }
  }

  oversized(type: number, id: number): boolean {
    if (type === RESPONSE) {
      const p = this.pending.get(id)
      if (p) {
        this.pending.delete(id)
        p.unwatch()
        p.reject(this.tooLarge())
        this.settled()
      }
      return true
    }
    if (type === STREAM_MESSAGE) {
      this.streams.get(id)?.abort(this.tooLarge())
      return true
    }
    return false
  }

  private tooLarge(): MicroError {
    return new TransportError(
      `${this.address}: response exceeds the limit of ${this.o.maxResponseSize} bytes`,
      {
        delivered: true,
        code: 413,
      },
    )
  }

  /**
   * The reader saw the server's preface (called by the first frame or by the reader itself):
   * from now on requests are written.
   */
  private onReady(): void {
    if (this.ready || this.state === 'closed') return
    this.ready = true
    if (this.connectTimer) clearTimeout(this.connectTimer)
    this.connectTimer = undefined
    if (this.state === 'connecting') this.state = 'ready'
    const waiting = this.waiting
    this.waiting = []
    for (const w of waiting) {
      if (!(w instanceof Pending)) w.open()
      else if (w.message) {
        const m = w.message
        w.message = undefined
        this.write(w, m)
      }
    }
  }

  /** Something finished: rest when idle, end when draining and idle. */
  private settled(): void {
    this.rest()
    this.maybeEnd()
  }

  /** Ends the connection once it is draining and idle. */
  private maybeEnd(): void {
    if (this.state === 'draining' && this.idle) {
      this.writer.flush()
      this.socket.end()
    }
  }

  private fail(reason: string): void {
    if (!this.reason) this.reason = reason
    this.socket.destroy()
  }

  private lostError(delivered: boolean): MicroError {
    const why = this.reason ?? 'connection closed'
    if (!delivered) {
      return new TransportError(`${this.address}: connect failed: ${why}`, { delivered: false })
    }
    return new TransportError(
      `${this.address}: connection lost before the response arrived, the request may have run: ${why}`,
      { delivered: true },
    )
  }

  private onClose(): void {
    if (this.state === 'closed') return
    const wasReady = this.ready
    this.state = 'closed'
    this.writer.close()
    if (this.connectTimer) clearTimeout(this.connectTimer)
    if (!this.connected && !this.reason) this.reason = 'connection closed'
    const waiting = this.waiting
    this.waiting = []
    for (const w of waiting) if (!(w instanceof Pending)) w.reject(this.lostError(false))
    const pending = [...this.pending.values()]
    this.pending.clear()
    for (const p of pending) {
      p.unwatch()
      p.reject(this.lostError(p.written && wasReady))
    }
    for (const s of [...this.streams.values()]) s.lost()
    this.streams.clear()
  }

  /** FrameSink hook: the reader checked the server's preface. */
  prefaceSeen(): void {
    this.onReady()
  }
}
