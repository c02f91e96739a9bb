/**
 * The closed-loop load generator the Node drivers share: `concurrency` loops, each starting its
 * next call as soon as the previous one settles, for a duration or a number of calls. Latencies
 * of successful calls are kept until `reset()`, so percentiles cover all measured rounds.
 */
import { performance } from 'node:perf_hooks'

export interface RunOptions {
  concurrency: number
  /** Stop starting calls after this long... */
  durationMs?: number
  /** ...or after this many calls (takes precedence). */
  calls?: number
}

export interface RunResult {
  calls: number
  errors: number
  elapsedMs: number
  firstError?: string
}

export interface LatencyStats {
  count: number
  p50: number
  p99: number
  max: number
}

/** Latency samples in milliseconds, in growable chunks (no per-sample allocation). */
export class LatencyLog {
  private chunks: Float64Array[] = []
  private current = new Float64Array(65536)
  private used = 0

  add(ms: number): void {
    if (this.used === this.current.length) {
      this.chunks.push(this.current)
      this.current = new Float64Array(65536)
      this.used = 0
    }
    this.current[this.used++] = ms
  }

  reset(): void {
    this.chunks = []
    this.used = 0
  }

  stats(): LatencyStats {
    const total = this.chunks.length * 65536 + this.used
    const all = new Float64Array(total)
    let at = 0
    for (const c of this.chunks) {
      all.set(c, at)
      at += c.length
    }
    all.set(this.current.subarray(0, this.used), at)
    all.sort()
    return { count: total, p50: pick(all, 0.5), p99: pick(all, 0.99), max: pick(all, 1) }
  }
}

/** Nearest-rank percentile of sorted samples. */
function pick(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i]
}

export async function runLoad(
  call: () => Promise<void>,
  options: RunOptions,
  log: Pick<LatencyLog, 'add'>,
): Promise<RunResult> {
  const concurrency = Math.max(1, options.concurrency)
  const limit = options.calls ?? Number.POSITIVE_INFINITY
  const begin = performance.now()
  const deadline = options.calls ? Number.POSITIVE_INFINITY : begin + (options.durationMs ?? 1000)
  let started = 0
  let calls = 0
  let errors = 0
  let firstError: string | undefined
  const loop = async () => {
    while (started < limit && performance.now() < deadline) {
      started++
      const t0 = performance.now()
      try {
        await call()
        log.add(performance.now() - t0)
        calls++
      } catch (e) {
        errors++
        firstError ??= (e as Error)?.message ?? String(e)
        // A failing contender must not spin: errors are reported, not raced.
        if (errors > 1000) return
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, loop))
  return { calls, errors, elapsedMs: performance.now() - begin, firstError }
}
