/**
 * Both ends of a micro-stream: ordered frames on a raw (upgraded) socket. Each side sends
 * MESSAGE frames and finishes with END (or ERROR); the socket closes once both sides finished.
 */
import type { Socket } from 'node:net'
import { MicroError, TransportError } from '../../errors.js'
import type { ClientStream, ServerStream, TransportMessage } from '../types.js'
import {
  decodeMessage,
  encodeError,
  encodeMessage,
  endFrame,
  FRAME_END,
  FRAME_ERROR,
  FRAME_MESSAGE,
  FrameDecoder,
} from './frames.js'

/** Received messages buffered before the socket is paused (backpressure towards the sender). */
const HIGH_WATER = 256
const LOW_WATER = 64
/** How long a finished side waits for the peer to close the socket before dropping it. */
const LINGER_MS = 5_000

interface Waiter {
  resolve(message: TransportMessage | undefined): void
  reject(error: MicroError): void
}

abstract class FramedStream {
  protected readonly controller = new AbortController()
  private readonly decoder: FrameDecoder
  private readonly inbox: TransportMessage[] = []
  private readonly waiters: Waiter[] = []
  private paused = false
  /** The peer sent END or ERROR: it sends nothing more. */
  protected remoteEnded = false
  /** We sent END or ERROR. */
  protected localEnded = false
  /** The ERROR the peer sent; recv rejects with it once the inbox is empty. */
  private remoteError?: MicroError
  /** Why this stream can no longer be used (lost connection, deadline, local close). */
  protected failure?: MicroError
  private closed = false
  private ending = false
  /** The byte stream broke (bad frame): ignore whatever else arrives. */
  private broken = false
  private drainWait?: Promise<void>
  private drainDone?: () => void

  constructor(
    protected readonly socket: Socket,
    limit: number,
    head?: Buffer,
  ) {
    this.decoder = new FrameDecoder(limit, (type, payload) => this.onFrame(type, payload))
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('drain', () => this.releaseDrain())
    socket.on('error', () => {
      // 'close' follows and reports the loss.
    })
    socket.on('end', () => this.onPeerEnd())
    socket.on('close', () => this.onClose())
    if (head && head.length > 0) this.onData(head)
  }

  /** The error for a connection that closed before the peer finished its side. */
  protected abstract lost(): MicroError
  /** The error for sending after the peer finished and closed the connection. */
  protected abstract peerClosed(): MicroError

  recv(): Promise<TransportMessage | undefined> {
    if (this.inbox.length > 0) {
      const message = this.inbox.shift()
      if (this.paused && this.inbox.length <= LOW_WATER) {
        this.paused = false
        this.socket.resume()
      }
      return Promise.resolve(message)
    }
    if (this.remoteError) return Promise.reject(this.remoteError)
    if (this.remoteEnded) return Promise.resolve(undefined)
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }))
  }

  async send(message: TransportMessage): Promise<void> {
    if (this.failure) throw this.failure
    if (this.localEnded) throw new MicroError(this.errorId(), 400, 'stream: send after this side was closed')
    if (this.closed || !this.socket.writable)
      throw new MicroError(this.errorId(), 499, 'stream: the peer closed it')
    const frames = encodeMessage(message)
    let ok: boolean
    if (frames.length === 1) {
      ok = this.socket.write(frames[0])
    } else {
      this.socket.cork()
      this.socket.write(frames[0])
      ok = this.socket.write(frames[1])
      this.socket.uncork()
    }
    if (!ok) await this.drained()
    if (this.failure) throw this.failure
  }

  protected abstract errorId(): string

  /** Send END (or ERROR): this side is done. */
  protected endLocal(error?: MicroError): void {
    if (this.localEnded) return
    this.localEnded = true
    if (!this.closed && this.socket.writable) this.socket.write(error ? encodeError(error) : endFrame())
    this.finishIfDone()
  }

  /** Both sides done: close the connection gracefully. */
  protected finishIfDone(): void {
    if (this.localEnded && this.remoteEnded && !this.closed) this.shutdown()
  }

  /** FIN now; drop the socket if the peer does not close within LINGER_MS. */
  protected shutdown(): void {
    if (this.closed || this.ending) return
    this.ending = true
    this.socket.end()
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref()
  }

  /** Stop the stream with `reason`: pending and later recv/send reject with it. */
  protected fail(reason: MicroError, destroy: boolean): void {
    if (!this.failure) this.failure = reason
    for (const w of this.waiters.splice(0)) w.reject(this.failure)
    if (!this.controller.signal.aborted && !this.localEnded) this.controller.abort(this.failure)
    this.releaseDrain()
    if (destroy) this.socket.destroy()
  }

  private drained(): Promise<void> {
    if (!this.drainWait) {
      this.drainWait = new Promise((resolve) => {
        this.drainDone = resolve
      })
    }
    return this.drainWait
  }

  private releaseDrain(): void {
    const done = this.drainDone
    this.drainWait = undefined
    this.drainDone = undefined
    done?.()
  }

  private onData(chunk: Buffer): void {
    if (this.broken) return
    try {
      this.decoder.push(chunk)
    } catch (e) {
      this.broken = true
      const err = e instanceof MicroError ? e : new MicroError(this.errorId(), 400, String(e))
      // Tell the peer why, then drop the connection: the byte stream can no longer be trusted.
      if (!this.closed && this.socket.writable) this.socket.write(encodeError(err))
      this.fail(err, false)
      this.shutdown()
    }
  }

  private onFrame(type: number, payload: Buffer): void {
    if (this.remoteEnded) return // nothing may follow END/ERROR
    if (type === FRAME_MESSAGE) {
      const message = decodeMessage(payload)
      const waiter = this.waiters.shift()
      if (waiter) {
        waiter.resolve(message)
        return
      }
      this.inbox.push(message)
      if (!this.paused && this.inbox.length >= HIGH_WATER) {
        this.paused = true
        this.socket.pause()
      }
      return
    }
    this.remoteEnded = true
    if (type === FRAME_ERROR) {
      this.remoteError = MicroError.parse(payload.toString('utf8'))
      for (const w of this.waiters.splice(0)) w.reject(this.remoteError)
      // The peer failed: our side is over too.
      if (!this.failure) this.failure = this.remoteError
      if (!this.controller.signal.aborted && !this.localEnded) this.controller.abort(this.remoteError)
      this.localEnded = true
    } else if (type === FRAME_END) {
      for (const w of this.waiters.splice(0)) w.resolve(undefined)
    }
    this.finishIfDone()
  }

  /**
   * The peer half-closed the connection. Neither side does that while its stream runs (END is a
   * frame), so the peer is gone: fail what is unfinished and close our half too.
   */
  private onPeerEnd(): void {
    if (!this.remoteEnded) this.fail(this.failure ?? this.lost(), false)
    else if (!this.localEnded) this.fail(this.failure ?? this.peerClosed(), false)
    if (!this.closed) this.socket.end()
  }

  private onClose(): void {
    this.closed = true
    if (!this.remoteEnded) this.fail(this.failure ?? this.lost(), false)
    else if (!this.localEnded) this.fail(this.failure ?? this.peerClosed(), false)
    this.releaseDrain()
  }
}

/** The server's end of a stream. close() is final: the socket ends once END/ERROR is out. */
export class HttpServerStream extends FramedStream implements ServerStream {
  constructor(
    socket: Socket,
    readonly headers: Record<string, string>,
    limit: number,
    head?: Buffer,
  ) {
    super(socket, limit, head)
  }

  get signal(): AbortSignal {
    return this.controller.signal
  }

  get finished(): boolean {
    return this.localEnded
  }

  protected errorId(): string {
    return 'go.micro.server'
  }

  protected lost(): MicroError {
    return new MicroError('go.micro.server', 499, 'stream: the client went away')
  }

  protected peerClosed(): MicroError {
    return new MicroError('go.micro.server', 499, 'stream: the client closed the stream')
  }

  async close(error?: Error): Promise<void> {
    if (this.localEnded) return
    this.endLocal(error ? MicroError.from(error, 'go.micro.server') : undefined)
    // The server is done: whatever the client still sends is not read.
    this.shutdown()
  }

  /** Abort the handler's signal (deadline, server shutdown); recv/send reject with `reason`. */
  abort(reason: MicroError, destroy: boolean): void {
    this.fail(reason, destroy)
  }
}

/** The client's end of a stream. */
export class HttpClientStream extends FramedStream implements ClientStream {
  constructor(
    socket: Socket,
    private readonly address: string,
    limit: number,
    onDone: () => void,
  ) {
    super(socket, limit)
    socket.once('close', onDone)
  }

  protected errorId(): string {
    return 'go.micro.client'
  }

  protected lost(): MicroError {
    return new TransportError(
      `stream to ${this.address}: the connection closed before the server ended the stream`,
      {
        delivered: true,
      },
    )
  }

  protected peerClosed(): MicroError {
    return new MicroError(
      'go.micro.client',
      500,
      `stream to ${this.address}: the server has closed the stream`,
    )
  }

  async closeSend(): Promise<void> {
    this.endLocal()
  }

  async close(): Promise<void> {
    this.fail(new MicroError('go.micro.client', 499, 'stream: closed by the client'), true)
  }

  /** Deadline or cancellation: everything pending rejects with `reason` and the connection drops. */
  abort(reason: MicroError): void {
    this.fail(reason, true)
  }
}
