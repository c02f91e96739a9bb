/** Waiting: sleeps that a signal can cut short, and timers longer than Node's 2^31 - 1 ms limit. */

/** Longest delay Node's timers take; a longer one fires at once (with a TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve()
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setLongTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      timer.clear()
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export interface LongTimer {
  clear(): void
}

/**
 * `setTimeout` for any delay: one past 2^31 - 1 ms (a `Timeout` header of days, say) is run as a
 * chain of shorter timers instead of firing at once. The timer does not keep the process alive
 * unless `ref` is true. An infinite or NaN delay never fires.
 */
export function setLongTimeout(fn: () => void, ms: number, ref = false): LongTimer {
  let handle: NodeJS.Timeout | undefined
  let cleared = false
  if (!(ms < Number.POSITIVE_INFINITY)) return { clear() {} }
  const due = Date.now() + Math.max(0, ms)
  const arm = () => {
    const left = due - Date.now()
    handle = setTimeout(
      () => {
        if (cleared) return
        if (due - Date.now() > 0 && left > MAX_TIMER_MS) arm()
        else fn()
      },
      Math.min(Math.max(0, left), MAX_TIMER_MS),
    )
    if (!ref) handle.unref?.()
  }
  arm()
  return {
    clear() {
      cleared = true
      if (handle) clearTimeout(handle)
    },
  }
}

/**
 * One timer for many deadlines, instead of a setTimeout per request (set and cleared on nearly
 * every call): it is armed for the earliest deadline; when it fires, `expire(now)` handles what
 * is due and returns the next deadline. Deadlines come in mostly increasing order, so it is
 * rarely re-armed. A deadline past 2^31 - 1 ms is waited for in steps, never at once or in a loop.
 */
export class DeadlineTimer {
  private timer?: NodeJS.Timeout
  /** When the armed timer fires (ms since the epoch), or Infinity. */
  private at = Number.POSITIVE_INFINITY
  private readonly fire = (): void => {
    this.timer = undefined
    const at = this.at
    this.at = Number.POSITIVE_INFINITY
    const now = Date.now()
    // Woken early (a step of a long wait): only re-arm.
    const next = at > now ? at : this.expire(now)
    if (next !== Number.POSITIVE_INFINITY) this.arm(next)
  }

  /** `expire(now)` handles everything due by `now` and returns the next deadline (or Infinity). */
  constructor(private readonly expire: (now: number) => number) {}

  /** Make sure the timer fires no later than `deadline` (ms since the epoch). */
  arm(deadline: number): void {
    if (!(deadline < this.at)) return
    if (this.timer) clearTimeout(this.timer)
    this.at = deadline
    const delay = Math.min(Math.max(1, deadline - Date.now()), MAX_TIMER_MS)
    // Does not keep the process alive by itself: whatever waits for the deadline (a socket) does.
    this.timer = setTimeout(this.fire, delay)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.at = Number.POSITIVE_INFINITY
  }
}

/** Something a DeadlineSet ends: `expire()` runs once `expiresAt` (ms since the epoch) has passed. */
export interface Expiring {
  readonly expiresAt: number
  expire(): void
}

/**
 * Deadlines of many requests on one DeadlineTimer: adding and removing one is a set operation.
 * When the timer fires, the entries due are removed and expired; the others wait for the next.
 */
export class DeadlineSet {
  private readonly entries = new Set<Expiring>()
  private readonly timer = new DeadlineTimer((now) => this.sweep(now))

  get size(): number {
    return this.entries.size
  }

  add(entry: Expiring): void {
    this.entries.add(entry)
    this.timer.arm(entry.expiresAt)
  }

  /**
   * Forget `entry` (its request finished). The timer is left as it is: when it fires it finds
   * nothing due and re-arms for what is left, if anything (a timer per request is what this avoids).
   */
  delete(entry: Expiring): void {
    this.entries.delete(entry)
  }

  private sweep(now: number): number {
    let next = Number.POSITIVE_INFINITY
    const due: Expiring[] = []
    for (const e of this.entries) {
      if (e.expiresAt <= now) due.push(e)
      else if (e.expiresAt < next) next = e.expiresAt
    }
    for (const e of due) this.entries.delete(e)
    for (const e of due) e.expire()
    return next
  }
}

/** The process's deadlines: request and stream deadlines of every transport and server share it. */
export const deadlines: DeadlineSet = new DeadlineSet()

/**
 * Run `fn` once at `at` (ms since the epoch) unless cleared first, on the shared DeadlineSet:
 * cheaper than a setTimeout per request, and any distance into the future is fine.
 */
export function atDeadline(at: number, fn: () => void): LongTimer {
  const entry: Expiring = { expiresAt: at, expire: fn }
  deadlines.add(entry)
  return { clear: () => deadlines.delete(entry) }
}
