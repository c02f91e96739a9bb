/** One back-off for every retry loop: exponential from `base`, capped at `max`, with jitter. */

export interface BackoffOptions {
  /** First delay, ms. Default 100. */
  base?: number
  /** Largest delay, ms. Default 10 000. */
  max?: number
  /** Growth per attempt. Default 2. */
  factor?: number
  /**
   * Random spread as a fraction of the delay: 0.2 draws from [0.8 d, 1.2 d] (never above `max`),
   * so clients that failed together do not retry together. Default 0.2.
   */
  jitter?: number
}

/** The delay before retry number `attempt` (1 for the first retry), ms. */
export type Backoff = (attempt: number) => number

/** `backoff({ base: 100, max: 5000 })(3)` is about 400 ms. */
export function backoff(options: BackoffOptions = {}): Backoff {
  const base = options.base ?? 100
  const max = options.max ?? 10_000
  const factor = options.factor ?? 2
  const jitter = Math.min(Math.max(options.jitter ?? 0.2, 0), 1)
  if (!(base >= 0) || !(max >= base) || !(factor >= 1)) {
    throw new RangeError(`backoff: need 0 <= base <= max and factor >= 1, got ${JSON.stringify(options)}`)
  }
  return (attempt: number) => {
    const n = Math.max(1, Math.floor(attempt))
    const d = Math.min(max, base * factor ** Math.min(n - 1, 64))
    if (jitter === 0) return d
    return Math.min(max, Math.max(0, d * (1 - jitter + 2 * jitter * Math.random())))
  }
}
