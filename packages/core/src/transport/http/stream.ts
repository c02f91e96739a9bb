/**
 * Streams on a raw socket: the ordered message queue, end-of-stream and failure handling that
 * every stream flavour shares, and the micro-stream flavour (length-prefixed frames after an
 * HTTP/1.1 upgrade, see frames.ts). go-micro's own flavour is in gomicro.ts.
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

/** A client stream's connection went away before the server ended it (the request was sent). */
export function clientStreamLost(address: string): MicroError {
  return new TransportError(
    `stream to ${address}: the connection closed before the server ended the stream`,
    {
      delivered: true,
    },
  )
}

/** The server ended a client stream. */
export function clientStreamPeerClosed(address: string): MicroError {
  return new MicroError('go.micro.client', 500, `stream to ${address}: the server has closed the stream`)
}

/** Received messages buffered before the socket is paused (backpressure towards the sender). */
const HIGH_WATER = 256
const LOW_WATER = 64
/** How long a finished side waits for the peer to close the socket before dropping it. */
const LINGER_MS = 5_000

interface Waiter {
  resolve(message: TransportMessage | undefined): void
  reject(error: MicroError): void
}

/**
 * One stream on one socket. Subclasses turn messages into bytes (`encode`, `endBytes`) and,
 * when they read the socket themselves, bytes into messages (`parse` → `deliver`/`remoteEnd`).
 */
export abstract class MessageStream {
  protected readonly controller = new AbortController()
  private readonly inbox: TransportMessage[] = []
  private readonly waiters: Waiter[] = []
  private paused = false
  /** The peer finished its side: it sends nothing more. */
  protected remoteEnded = false
  /** We finished our side. */
  protected localEnded = false
  /** The error the peer ended with; recv rejects with it once the inbox is empty. */
  private remoteError?: MicroError
  /** Why this stream can no longer be used (lost connection, deadline, local close). */
  protected failure?: MicroError
  protected closed = false
  private ending = false
  /** The byte stream broke (unparseable): ignore whatever else arrives. */
  private broken = false
  private drainWait?: Promise<void>
  private drainDone?: () => void

  constructor(
    protected readonly socket: Socket,
    readsSocket: boolean,
  ) {
    socket.setNoDelay(true)
    if (readsSocket) socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('drain', () => this.releaseDrain())
    socket.on('error', () => {
      // 'close' follows and reports the loss.
    })
    socket.on('end', () => this.onPeerEnd())
    socket.on('close', () => this.onClose())
  }

  protected abstract errorId(): string
  /** The error for a connection that closed before the peer finished its side. */
  protected abstract lost(): MicroError
  /** The error for sending after the peer finished and closed the connection. */
  protected abstract peerClosed(): MicroError
  /** One message as bytes. */
  protected abstract encode(message: TransportMessage): (Buffer | string)[]
  /** What ends our side (with an error, or cleanly). */
  protected abstract endBytes(error?: MicroError): Buffer | string | undefined
  /** Bytes read off the socket (only when constructed with readsSocket). Throw a MicroError when they make no sense. */
  protected parse(_chunk: Buffer): void {}
  /** What to tell the peer when its bytes made no sense (undefined: nothing, just close). */
  protected protocolErrorBytes(_error: MicroError): Buffer | string | undefined {
    return undefined
  }

  /** Run `fn` once the connection is gone. */
  onceClosed(fn: () => void): void {
    if (this.closed) fn()
    else this.socket.once('close', fn)
  }

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
    if (this.closed || !this.socket.writable) throw this.peerClosed()
    if (!this.write(this.encode(message))) await this.drained()
    if (this.failure) throw this.failure
  }

  /** Write chunks as one batch; false when the socket wants us to wait for 'drain'. */
  protected write(chunks: (Buffer | string)[]): boolean {
    if (chunks.length === 1) return this.socket.write(chunks[0], 'latin1')
    this.socket.cork()
    let ok = true
    for (const c of chunks) ok = this.socket.write(c, 'latin1')
    this.socket.uncork()
    return ok
  }

  /** A message from the peer, in order. */
  protected deliver(message: TransportMessage): void {
    if (this.remoteEnded) return // nothing may follow the end
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
  }

  /** The peer finished its side, cleanly or with `error` (which also ends ours). */
  protected remoteEnd(error?: MicroError): void {
    if (this.remoteEnded) return
    this.remoteEnded = true
    if (error) {
      this.remoteError = error
      for (const w of this.waiters.splice(0)) w.reject(error)
      if (!this.failure) this.failure = error
      if (!this.controller.signal.aborted && !this.localEnded) this.controller.abort(error)
      this.localEnded = true
    } else {
      for (const w of this.waiters.splice(0)) w.resolve(undefined)
    }
    this.finishIfDone()
  }

  /** Finish our side. */
  protected endLocal(error?: MicroError): void {
    if (this.localEnded) return
    this.localEnded = true
    const bytes = this.endBytes(error)
    if (bytes !== undefined && !this.closed && this.socket.writable) this.socket.write(bytes, 'latin1')
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

  protected onData(chunk: Buffer): void {
    if (this.broken) return
    try {
      this.parse(chunk)
    } catch (e) {
      this.broken = true
      const err = e instanceof MicroError ? e : new MicroError(this.errorId(), 400, String(e))
      // Tell the peer why (when the flavour can), then drop the connection: the bytes can no longer be trusted.
      const bytes = this.protocolErrorBytes(err)
      if (bytes !== undefined && !this.closed && this.socket.writable) this.socket.write(bytes, 'latin1')
      this.fail(err, false)
      this.shutdown()
    }
  }

  /**
   * The peer half-closed the connection. Neither side does that while its stream runs (ends are
   * messages), so the peer is gone: fail what is unfinished and close our half too.
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

/** The micro-stream flavour: frames both ways (see frames.ts). */
abstract class FramedStream extends MessageStream {
  private readonly decoder: FrameDecoder

  constructor(socket: Socket, limit: number, head?: Buffer) {
    super(socket, true)
    this.decoder = new FrameDecoder(limit, (type, payload) => this.onFrame(type, payload))
    if (head && head.length > 0) this.onData(head)
  }

  protected encode(message: TransportMessage): Buffer[] {
    return encodeMessage(message)
  }

  protected endBytes(error?: MicroError): Buffer {
    return error ? encodeError(error) : endFrame()
  }

  protected override parse(chunk: Buffer): void {
    this.decoder.push(chunk)
  }

  protected override protocolErrorBytes(error: MicroError): Buffer {
    return encodeError(error)
  }

  private onFrame(type: number, payload: Buffer): void {
    if (type === FRAME_MESSAGE) this.deliver(decodeMessage(payload))
    else if (type === FRAME_ERROR) this.remoteEnd(MicroError.parse(payload.toString('utf8')))
    else if (type === FRAME_END) this.remoteEnd()
  }
}

/** What the listener needs from any server-side stream. */
export interface ServerStreamControl extends ServerStream {
  /** Abort the handler's signal (deadline, shutdown); recv/send reject with `reason`. */
  abort(reason: MicroError, destroy: boolean): void
}

/** The server's end of a micro-stream. close() is final: the socket ends once END/ERROR is out. */
export class HttpServerStream extends FramedStream implements ServerStreamControl {
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

  abort(reason: MicroError, destroy: boolean): void {
    this.fail(reason, destroy)
  }
}

/** What the transport needs from any client-side stream. */
export interface ClientStreamControl extends ClientStream {
  /** Deadline or cancellation: everything pending rejects with `reason` and the connection drops. */
  abort(reason: MicroError): void
  onceClosed(fn: () => void): void
}

/** The client's end of a micro-stream. */
export class HttpClientStream extends FramedStream implements ClientStreamControl {
  constructor(
    socket: Socket,
    private readonly address: string,
    limit: number,
    head?: Buffer,
  ) {
    super(socket, limit, head)
  }

  protected errorId(): string {
    return 'go.micro.client'
  }

  protected lost(): MicroError {
    return clientStreamLost(this.address)
  }

  protected peerClosed(): MicroError {
    return clientStreamPeerClosed(this.address)
  }

  async closeSend(): Promise<void> {
    this.endLocal()
  }

  async close(): Promise<void> {
    this.fail(new MicroError('go.micro.client', 499, 'stream: closed by the client'), true)
  }

  abort(reason: MicroError): void {
    this.fail(reason, true)
  }
}
