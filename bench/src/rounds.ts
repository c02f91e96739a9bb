/**
 * Interleaved rounds for any scenario (see steady.ts): every contender of a cell warms up, then
 * the rounds go A B C A B C ... A contender that throws is reported once and left out of the
 * rest of the cell; the others go on.
 */

export interface Interleave<C, R> {
  contenders: readonly C[]
  rounds: number
  /** Unmeasured run before the cell (may be omitted). */
  warm?: (c: C) => Promise<void>
  /** One measured round of one contender. */
  round: (c: C, index: number) => Promise<R>
  onFailed: (c: C, reason: string) => void | Promise<void>
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
        const r = await o.round(c, i)
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
