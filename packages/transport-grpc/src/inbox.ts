import type { MicroError, TransportMessage } from '@micro-ts/core'

/** Messages queued beyond this pause the gRPC call (HTTP/2 flow control then holds the sender). */
const HIGH_WATER = 256

/**
 * The receiving half of a stream: messages in arrival order, then the end (clean or an error).
 * `pause`/`resume` apply backpressure to the call that feeds it.
 */
export class Inbox {
  private readonly queue: TransportMessage[] = []
  private readonly waiters: {
    resolve(m: TransportMessage | undefined): void
    reject(e: MicroError): void
  }[] = []
  private ended = false
  private error?: MicroError
  private paused = false

  constructor(
    private readonly pause: () => void,
    private readonly resume: () => void,
  ) {}

  get done(): boolean {
    return this.ended
  }

  push(message: TransportMessage): void {
    if (this.ended) return
    const waiter = this.waiters.shift()
    if (waiter) {
      waiter.resolve(message)
      return
    }
    this.queue.push(message)
    if (!this.paused && this.queue.length >= HIGH_WATER) {
      this.paused = true
      this.pause()
    }
  }

  /** The peer ended: queued messages are still read, then `undefined` (or `error`). */
  end(error?: MicroError): void {
    if (this.ended) return
    this.ended = true
    this.error = error
    if (this.queue.length > 0) return
    for (const w of this.waiters.splice(0)) {
      if (error) w.reject(error)
      else w.resolve(undefined)
    }
  }

  /** The stream broke (deadline, cancellation, connection lost): queued messages are dropped. */
  fail(error: MicroError): void {
    if (this.ended && this.queue.length === 0) return
    this.ended = true
    this.error = error
    this.queue.length = 0
    for (const w of this.waiters.splice(0)) w.reject(error)
  }

  recv(): Promise<TransportMessage | undefined> {
    const next = this.queue.shift()
    if (next) {
      if (this.paused && this.queue.length < HIGH_WATER / 2) {
        this.paused = false
        this.resume()
      }
      return Promise.resolve(next)
    }
    if (this.ended) return this.error ? Promise.reject(this.error) : Promise.resolve(undefined)
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }))
  }
}
