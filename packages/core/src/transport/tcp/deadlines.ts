/**
 * One timer for all the deadlines of a connection's requests, instead of a setTimeout per request
 * (~0.4 µs each, set and cleared on nearly every call): the timer is armed for the earliest
 * deadline; when it fires, `expire` scans what is in flight, fails what is overdue and says when
 * the next deadline is. Finished requests need no clearing. Deadlines come in mostly increasing
 * order, so the timer is rarely re-armed.
 */
export class DeadlineTimer {
  private timer?: NodeJS.Timeout
  /** When the armed timer fires (ms since the epoch), or Infinity. */
  private at = Number.POSITIVE_INFINITY
  private readonly fire = (): void => {
    this.timer = undefined
    this.at = Number.POSITIVE_INFINITY
    const next = this.expire(Date.now())
    if (next !== Number.POSITIVE_INFINITY) this.arm(next)
  }

  /** `expire(now)` handles everything due by `now` and returns the next deadline (or Infinity). */
  constructor(private readonly expire: (now: number) => number) {}

  /** Make sure the timer fires no later than `deadline` (ms since the epoch). */
  arm(deadline: number): void {
    if (deadline >= this.at) return
    if (this.timer) clearTimeout(this.timer)
    this.at = deadline
    // Not keeping the process alive by itself: the connection's socket does that while busy.
    this.timer = setTimeout(this.fire, Math.max(1, deadline - Date.now()))
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.at = Number.POSITIVE_INFINITY
  }
}
