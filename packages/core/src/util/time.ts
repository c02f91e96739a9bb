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
