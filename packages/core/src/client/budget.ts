/**
 * A retry budget, as Finagle and Envoy keep one: over a sliding window, retries may add at most
 * `ratio` of the calls made, or a small allowance per second when that is more, so a quiet
 * client still retries.
 * When a node or a whole service fails, retries then add a bounded share of load instead of
 * multiplying it by the number of attempts.
 */

export interface RetryBudgetOptions {
  /** Retries allowed per call made in the window (default 0.2: at most 20 % extra load). */
  ratio?: number
  /** The window, ms (default 10 000). */
  windowMs?: number
  /** Retries allowed per second however few the calls (default 10); a busy client gets `ratio` alone. */
  minPerSecond?: number
}

const BUCKETS = 10

export class RetryBudget {
  private readonly ratio: number
  private readonly bucketMs: number
  private readonly floor: number
  private readonly calls = new Float64Array(BUCKETS)
  private readonly retries = new Float64Array(BUCKETS)
  private callSum = 0
  private retrySum = 0
  /** The bucket number (time / bucketMs) the arrays were last advanced to. */
  private at = 0

  constructor(options: RetryBudgetOptions = {}) {
    this.ratio = Math.max(0, options.ratio ?? 0.2)
    const windowMs = Math.max(BUCKETS, options.windowMs ?? 10_000)
    this.bucketMs = windowMs / BUCKETS
    this.floor = Math.max(0, options.minPerSecond ?? 10) * (windowMs / 1000)
    this.at = Math.floor(Date.now() / this.bucketMs)
  }

  /** A call was made (its first attempt). */
  call(): void {
    this.calls[this.advance()]++
    this.callSum++
  }

  /** May the caller retry now? Takes the retry out of the budget when it may. */
  retry(): boolean {
    const i = this.advance()
    // The floor is a minimum, not an addition: a busy client never retries more than `ratio`.
    if (this.retrySum + 1 > Math.max(this.ratio * this.callSum, this.floor)) return false
    this.retries[i]++
    this.retrySum++
    return true
  }

  /** Calls and retries in the current window. */
  get window(): { calls: number; retries: number } {
    this.advance()
    return { calls: this.callSum, retries: this.retrySum }
  }

  /** Move the window to now, emptying the buckets that fell out of it; the current bucket's index. */
  private advance(): number {
    const now = Math.floor(Date.now() / this.bucketMs)
    if (now !== this.at) {
      const steps = Math.min(BUCKETS, Math.max(0, now - this.at))
      for (let k = 1; k <= steps; k++) {
        const j = (this.at + k) % BUCKETS
        this.callSum -= this.calls[j]
        this.retrySum -= this.retries[j]
        this.calls[j] = 0
        this.retries[j] = 0
      }
      this.at = now
    }
    return now % BUCKETS
  }
}
