/**
 * Streams on a raw socket: the ordered message queue, end-of-stream and failure handling that
 * every stream flavour shares, and the micro-stream flavour (length-prefixed frames after an
 * HTTP/1.1 upgrade, see frames.ts). go-micro's own flavour is in gomicro.ts.
 */
import type { Socket } from 'node:net'
import { MicroError } from '../../errors.js'
import { closedByClient, streamEndedByServer, streamLost, type TrackedStream } from '../net.js'
import type { ServerStream, TransportMessage } from '../types.js'
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

/** Which end of a stream this is: the id of its errors, and what its failures say. */
export interface StreamEnd {
  readonly id: string
  /** The connection closed before the peer finished its side. */
  lost(): MicroError
  /** Sending after the peer finished and closed the connection. */
  peerClosed(): MicroError
}

/** The server's end of any stream. */
export const SERVER_END: StreamEnd = {
  id: 'go.micro.server',
  lost: () => new MicroError('go.micro.server', 499, 'stream: the client went away'),
  peerClosed: () => new MicroError('go.micro.server', 499, 'stream: the client closed the stream'),
}

/** The client's end of a stream to `address`. */
export function clientEnd(address: string): StreamEnd {
  return {
    id: 'go.micro.client',
    lost: () => streamLost(address),
    peerClosed: () => streamEndedByServer(address),
  }
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
    protected readonly end: StreamEnd,
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
    if (this.localEnded) throw new MicroError(this.end.id, 400, 'stream: send after this side was closed')
    if (this.closed || !this.socket.writable) throw this.end.peerClosed()
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

  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** Deadline, cancellation or shutdown: pending and later recv/send reject with `reason`; `destroy` drops the connection at once. */
  abort(reason: MicroError, destroy = true): void {
    this.fail(reason, destroy)
  }

  /** The server is done (with `error`, or cleanly): end our side; whatever the client still sends is not read. */
  protected finish(error?: Error): void {
    if (this.localEnded) return
    this.endLocal(error ? MicroError.from(error, this.end.id) : undefined)
    this.shutdown()
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
      const err = e instanceof MicroError ? e : new MicroError(this.end.id, 400, String(e))
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
    if (!this.remoteEnded) this.fail(this.failure ?? this.end.lost(), false)
    else if (!this.localEnded) this.fail(this.failure ?? this.end.peerClosed(), false)
    if (!this.closed) this.socket.end()
  }

  private onClose(): void {
    this.closed = true
    if (!this.remoteEnded) this.fail(this.failure ?? this.end.lost(), false)
    else if (!this.localEnded) this.fail(this.failure ?? this.end.peerClosed(), false)
    this.releaseDrain()
  }
}

/** The micro-stream flavour: frames both ways (see frames.ts). */
abstract class FramedStream extends MessageStream {
  private readonly decoder: FrameDecoder

  constructor(socket: Socket, end: StreamEnd, limit: number, head?: Buffer) {
    super(socket, end, true)
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
    super(socket, SERVER_END, limit, head)
  }

  async close(error?: Error): Promise<void> {
    this.finish(error)
  }
}

/** What the transport needs from any client-side stream (the connection drops on abort). */
export type ClientStreamControl = TrackedStream

/** The client's end of a micro-stream. */
export class HttpClientStream extends FramedStream implements ClientStreamControl {
  constructor(socket: Socket, address: string, limit: number, head?: Buffer) {
    super(socket, clientEnd(address), limit, head)
  }

  async closeSend(): Promise<void> {
    this.endLocal()
  }

  async close(): Promise<void> {
    this.fail(closedByClient(), true)
  }
}
