/**
 * How many bytes a tcp listener holds that no handler has taken yet: frames still arriving,
 * request bodies whose handlers run, stream messages nobody has read. It bounds what a client
 * can make the server keep in memory, across all connections:
 *
 * - a frame whose bytes are still arriving is let in only if its whole length fits (or nothing
 *   else is held, so any frame can get through eventually); otherwise its connection stops
 *   being read and waits, in order, until it fits;
 * - a completed frame that takes the total past the limit (its bytes are already here) stops
 *   its connection from being read until the total is under the limit again.
 *
 * Connections that wait read nothing; the kernel's buffers and TCP's flow control hold the
 * sender back, and the idle timeout closes a connection whose frame stalls.
 */

/** A connection as the budget pauses and resumes it. */
export interface Reader {
  pause(): void
  resume(): void
}

export class ReadBudget {
  /** Bytes held now. */
  held = 0
  /** Paused readers and the bytes each waits to have let in (0: waits for the total to drop). */
  private readonly waiting = new Map<Reader, number>()

  constructor(readonly limit: number) {}

  /**
   * `reader` begins a frame of `bytes`: true when it may go on reading (the bytes are held from
   * now on), false when it is paused until they fit (then they are held and it resumes).
   */
  admit(reader: Reader, bytes: number): boolean {
    if (this.waiting.size === 0 && this.fits(bytes)) {
      this.held += bytes
      return true
    }
    this.pause(reader, bytes)
    return false
  }

  /** `reader` holds `bytes` more (already read); past the limit it is paused. */
  hold(reader: Reader, bytes: number): void {
    this.held += bytes
    if (this.held > this.limit) this.pause(reader, 0)
  }

  /** `bytes` are no longer held (a handler took them, or the connection went). */
  release(bytes: number): void {
    if (bytes <= 0) return
    this.held -= bytes
    this.wake()
  }

  /** The connection is gone: it waits no more. */
  forget(reader: Reader): void {
    if (this.waiting.delete(reader)) this.wake()
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.limit
  }

  private pause(reader: Reader, bytes: number): void {
    const already = this.waiting.get(reader)
    this.waiting.set(reader, Math.max(already ?? 0, bytes))
    if (already === undefined) reader.pause()
  }

  /** Let waiting readers in, in order, while they fit. */
  private wake(): void {
    if (this.waiting.size === 0) return
    for (const [reader, bytes] of this.waiting) {
      if (bytes === 0 ? this.held > this.limit : !this.fits(bytes)) return
      this.held += bytes
      this.waiting.delete(reader)
      reader.resume()
    }
  }
}
