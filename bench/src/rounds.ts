/**
 * Interleaved rounds for any scenario (see steady.ts): every contender of a cell warms up, then
 * the rounds go A B C A B C ... A contender that throws is reported once and left out of the
 * rest of the cell; the others go on. A round during which the whole machine stalled is run
 * again (see `unstalled`).
 */
import { performance } from 'node:perf_hooks'

/** The orchestrator's timer this late means the machine stalled, ms. */
export const STALL_MS = 250
/** Most times one round is run again because the machine stalled during it. */
export const MAX_RERUNS = 2
const TICK_MS = 20

/**
 * Watches the orchestrator's own timer while a round runs. The orchestrator only waits for the
 * contender's reply then, so a tick that fires far late means every process on the machine was
 * held up (runs A and B of bench/README.md saw 1–2 s stalls on this shared 2-CPU machine), not
 * that the contender was slow: the contender's own pauses do not delay this process.
 */
export class StallWatch {
  private last = performance.now()
  private worst = 0
  private readonly timer = setInterval(() => {
    const now = performance.now()
    this.worst = Math.max(this.worst, now - this.last - TICK_MS)
    this.last = now
  }, TICK_MS)

  /** Stops watching; the latest tick was this late, ms (the time since the last tick counts too). */
  stop(): number {
    clearInterval(this.timer)
    return Math.max(this.worst, performance.now() - this.last - TICK_MS)
  }
}

/**
 * One measured round, run again (at most MAX_RERUNS times) while the machine stalled for
 * STALL_MS or longer during it: a stall shifts that round of one contender and not the next
 * one's, so it is a fact about the machine, not a figure of the contender. The last try is
 * kept whatever happened in it; every re-run is reported through `onRerun`.
 */
export async function unstalled<R>(
  round: () => Promise<R>,
  onRerun: (stallMs: number) => void = () => {},
): Promise<R> {
  for (let attempt = 0; ; attempt++) {
    const watch = new StallWatch()
    let stall = 0
    let result: R
    try {
      result = await round()
    } finally {
      stall = watch.stop()
    }
    if (stall < STALL_MS || attempt === MAX_RERUNS) return result
    onRerun(stall)
  }
}

/** An `onRerun` that says so in the progress log, naming the scenario, contender and round. */
export function logRerun(
  progress: (line: string) => void,
  scenario: string,
): (c: { name: string }, index: number, stallMs: number) => void {
  return (c, index, stallMs) =>
    progress(`${scenario} ${c.name}: round ${index + 1} again, the machine stalled ${Math.round(stallMs)} ms`)
}

export interface Interleave<C, R> {
  contenders: readonly C[]
  rounds: number
  /** Unmeasured run before the cell (may be omitted). */
  warm?: (c: C) => Promise<void>
  /** One measured round of one contender. */
  round: (c: C, index: number) => Promise<R>
  onFailed: (c: C, reason: string) => void | Promise<void>
  /** A round was run again because the machine stalled during it. */
  onRerun?: (c: C, index: number, stallMs: number) => void
}

/** Each contender's round results, in round order (contenders that failed keep what they had). */
export async function interleave<C, R>(o: Interleave<C, R>): Promise<Map<C, R[]>> {
  const results = new Map<C, R[]>()
  const failed = new Set<C>()
  const fail = async (c: C, e: unknown) => {
    failed.add(c)
    results.delete(c)
    await o.onFailed(c, firstLine(e))
  }
  for (const c of o.contenders) {
    try {
      await o.warm?.(c)
    } catch (e) {
      await fail(c, e)
    }
  }
  for (let i = 0; i < o.rounds; i++) {
    for (const c of o.contenders) {
      if (failed.has(c)) continue
      try {
        const r = await unstalled(
          () => o.round(c, i),
          (ms) => o.onRerun?.(c, i, ms),
        )
        results.set(c, [...(results.get(c) ?? []), r])
      } catch (e) {
        await fail(c, e)
      }
    }
  }
  return results
}

/** The first line of an error's message, at most 400 characters. */
export function firstLine(e: unknown): string {
  return ((e as Error)?.message ?? String(e)).split('\n')[0].slice(0, 400)
}
