/**
 * Streams multiplexed on a tcp transport connection. Each stream has an id; its messages, its
 * end (STREAM_END), its failure (STREAM_ERROR) and its flow control (STREAM_WINDOW) are frames
 * with that id. Flow control is per stream, in messages: a side may send WINDOW messages ahead
 * of what the receiver consumed, so one slow reader never stalls the other streams and requests
 * on the connection (pausing the socket would). The receiver enforces it: a peer that sends past
 * its window, or past the bytes a stream may hold unread (`maxUnread`), fails the stream with 429.
 */
import { MicroError } from '../../errors.js'
import { LazyAbort } from '../../util/abort.js'
import { atDeadline, type LongTimer } from '../../util/time.js'
import { closedByClient, streamEndedByServer, streamLost, type TrackedStream } from '../net.js'
import type { RequestContext, ServerStream, TransportMessage } from '../types.js'
import { type FrameWriter, STREAM_END, STREAM_MESSAGE, STREAM_WINDOW } from './frames.js'

/** Messages a side may send beyond what the receiver consumed. */
export const WINDOW = 256
/** The receiver grants more once it consumed this many. */
const GRANT_AT = WINDOW / 2

/** What a stream needs from its connection. */
export interface StreamHost {
  readonly writer: FrameWriter
  /** The socket is still open for writing. */
  writable(): boolean
  /** The stream is finished: forget its id. */
  release(id: number): void
  /** `host:port` of the peer. */
  readonly remote: string
  /** Unread message bytes one stream may hold before it fails with 429. */
  readonly maxUnread: number
  /** `bytes` of received messages are held until read (the server's read budget). */
  holdBytes(bytes: number): void
  /** `bytes` held by holdBytes were read or dropped. */
  freeBytes(bytes: number): void
}

interface Waiter {
  resolve(message: TransportMessage | undefined): void
  reject(error: MicroError): void
}

/** The ordered inbox, end-of-stream, failure and flow control both ends share. */
abstract class MuxStream {
  protected readonly aborter = new LazyAbort()
  private readonly inbox: TransportMessage[] = []
  private readonly waiters: Waiter[] = []
  /** Messages we may still send before the peer grants more. */
  private credit = WINDOW
  private creditWait?: { promise: Promise<void>; resolve(): void }
  /** Messages consumed since the last grant. */
  private consumed = 0
  /** Messages the peer may still send: what it was granted and has not used. */
  private allowance = WINDOW
  /** Bytes of the messages in the inbox (held in the host's budget). */
  private unread = 0
  /** The peer finished its side (cleanly, or with remoteError). */
  protected remoteEnded = false
  private remoteError?: MicroError
  /** We finished our side (END or ERROR sent, or nothing more may be sent). */
  protected localEnded = false
  /** Why the stream can no longer be used. */
  protected failure?: MicroError
  /** Released from the connection: no frame for it is read or written any more. */
  protected finished = false

  constructor(
    protected readonly host: StreamHost,
    readonly id: number,
  ) {}

  protected abstract errorId(): string
  /** The peer broke flow control (`what` it sent too much of): fail the stream with 429. */
  protected abstract overrun(what: string): void

  recv(): Promise<TransportMessage | undefined> {
    const message = this.inbox.shift()
    if (message) {
      if (!this.finished) {
        this.unread -= message.body.length
        this.host.freeBytes(message.body.length)
      }
      this.consumedOne()
      return Promise.resolve(message)
    }
    if (this.remoteError) return Promise.reject(this.remoteError)
    if (this.remoteEnded) return Promise.resolve(undefined)
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }))
  }

  /** Queue one message; waits while the peer's window is used up or the socket is congested. */
  protected async sendMessage(message: TransportMessage): Promise<void> {
    this.checkSendable()
    while (this.credit <= 0) {
      if (!this.creditWait) {
        let resolve!: () => void
        const promise = new Promise<void>((r) => {
          resolve = r
        })
        this.creditWait = { promise, resolve }
      }
      await this.creditWait.promise
      this.checkSendable()
    }
    if (this.host.writer.congested()) {
      await this.host.writer.drained()
      this.checkSendable()
    }
    this.credit--
    this.host.writer.message(STREAM_MESSAGE, this.id, message)
  }

  /** Throws the reason `send` cannot go ahead, if there is one. */
  protected checkSendable(): void {
    if (this.failure) throw this.failure
    if (this.localEnded) throw new MicroError(this.errorId(), 400, 'stream: send after this side was closed')
  }

  /**
   * A message from the peer. `counted`: it used one of the peer's window (a STREAM_MESSAGE; the
   * opening frame's body does not).
   */
  deliver(message: TransportMessage, counted = true): void {
    if (this.remoteEnded || this.finished) return
    if (counted && --this.allowance < 0) {
      this.overrun(`more than ${WINDOW} messages beyond what was read (its window)`)
      return
    }
    const waiter = this.waiters.shift()
    if (waiter) {
      this.consumedOne()
      waiter.resolve(message)
      return
    }
    this.inbox.push(message)
    const size = message.body.length
    this.unread += size
    this.host.holdBytes(size)
    if (this.unread > this.host.maxUnread) this.overrun(`more than ${this.host.maxUnread} bytes nobody read`)
  }

  /** A STREAM_WINDOW from the peer. */
  grant(count: number): void {
    this.credit += count
    this.releaseCredit()
  }

  /** The peer finished its side, cleanly or with `error` (which ends the stream). */
  remoteEnd(error?: MicroError): void {
    if (this.remoteEnded || this.finished) return
    this.remoteEnded = true
    if (error) {
      this.remoteError = error
      this.fail(error)
    } else {
      for (const w of this.waiters.splice(0)) w.resolve(undefined)
    }
    this.afterRemoteEnd()
  }

  /** Stop the stream with `reason`: pending and later recv/send reject with it; the signal fires. */
  fail(reason: MicroError): void {
    if (!this.failure) this.failure = reason
    for (const w of this.waiters.splice(0)) w.reject(this.remoteError ?? this.failure)
    this.releaseCredit()
    if (!this.localEnded || this.remoteError) this.aborter.abort(this.failure)
  }

  /** Forget the stream on its connection. */
  protected release(): void {
    if (this.finished) return
    this.finished = true
    this.host.release(this.id)
    this.host.freeBytes(this.unread)
    this.unread = 0
    this.releaseCredit()
  }

  /** Hook: what follows the peer's end. */
  protected afterRemoteEnd(): void {}

  private consumedOne(): void {
    if (this.remoteEnded || this.finished) return
    if (++this.consumed >= GRANT_AT) {
      if (this.host.writable()) this.host.writer.number(STREAM_WINDOW, this.id, this.consumed)
      this.allowance += this.consumed
      this.consumed = 0
    }
  }

  private releaseCredit(): void {
    const wait = this.creditWait
    this.creditWait = undefined
    wait?.resolve()
  }

  /** Send our END (clean end of our side). */
  protected sendEnd(): void {
    if (this.host.writable()) this.host.writer.control(STREAM_END, this.id)
  }

  /** Send STREAM_ERROR (the stream failed or was torn down). */
  protected sendError(error: MicroError): void {
    if (this.host.writable()) this.host.writer.error(this.id, error)
  }
}

/** The server's end of a stream. `close()` is final: after it nothing the client sends is read. */
export class TcpServerStream extends MuxStream implements ServerStream, RequestContext {
  private expiry?: LongTimer

  constructor(
    host: StreamHost,
    id: number,
    readonly headers: Record<string, string>,
  ) {
    super(host, id)
  }

  get signal(): AbortSignal {
    return this.aborter.signal
  }

  get remote(): string {
    return this.host.remote
  }

  onAbort(listener: (reason: MicroError) => void): () => void {
    return this.aborter.onAbort(listener)
  }

  /** The server's deadline: the stream fails with `reason()` on both ends. */
  abortAt(deadline: number, reason: () => MicroError): void {
    this.expiry?.clear()
    this.expiry = atDeadline(deadline, () => this.abort(reason(), true))
  }

  protected errorId(): string {
    return 'go.micro.server'
  }

  protected overrun(what: string): void {
    this.abort(new MicroError('go.micro.server', 429, `stream: the client sent ${what}`), true)
  }

  send(message: TransportMessage): Promise<void> {
    return this.sendMessage(message)
  }

  async close(error?: Error): Promise<void> {
    if (this.localEnded || this.finished) return
    this.localEnded = true
    if (error) this.sendError(MicroError.from(error, 'go.micro.server'))
    else this.sendEnd()
    this.done()
  }

  /** Deadline, shutdown, lost connection or a client's teardown: the handler's signal fires; `notify` tells the client. */
  abort(reason: MicroError, notify: boolean): void {
    if (this.finished) return
    this.fail(reason)
    if (notify && !this.localEnded) this.sendError(reason)
    this.localEnded = true
    this.done()
  }

  private done(): void {
    this.expiry?.clear()
    this.release()
  }
}

/** The client's end of a stream. */
export class TcpClientStream extends MuxStream implements TrackedStream {
  private onDone?: (() => void)[]

  constructor(
    host: StreamHost,
    id: number,
    private readonly address: string,
  ) {
    super(host, id)
  }

  protected errorId(): string {
    return 'go.micro.client'
  }

  protected overrun(what: string): void {
    this.abort(new MicroError('go.micro.client', 429, `stream to ${this.address}: the server sent ${what}`))
  }

  async send(message: TransportMessage): Promise<void> {
    if (this.remoteEnded && !this.failure) throw streamEndedByServer(this.address)
    await this.sendMessage(message)
  }

  async closeSend(): Promise<void> {
    if (this.localEnded || this.failure) return
    this.localEnded = true
    if (!this.remoteEnded) this.sendEnd()
  }

  async close(): Promise<void> {
    this.abort(closedByClient())
  }

  /** Deadline, cancellation or local close: pending calls reject with `reason` and the server is told. */
  abort(reason: MicroError): void {
    if (this.finished) return
    this.fail(reason)
    if (!this.remoteEnded) this.sendError(reason)
    this.localEnded = true
    this.done()
  }

  /** The connection is gone. */
  lost(): void {
    if (this.finished) return
    this.fail(streamLost(this.address))
    this.done()
  }

  protected override afterRemoteEnd(): void {
    // The server's end is final: the stream is over (whatever we send next is refused locally).
    this.done()
  }

  onceClosed(fn: () => void): void {
    if (this.finished) fn()
    else if (this.onDone) this.onDone.push(fn)
    else this.onDone = [fn]
  }

  private done(): void {
    if (this.finished) return
    this.release()
    const fns = this.onDone
    this.onDone = undefined
    if (fns) for (const fn of fns) fn()
  }
}
