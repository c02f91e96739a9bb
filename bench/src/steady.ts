/**
 * The steady method: numbers that hold still on a shared machine.
 *
 * Contenders of one cell run in alternating rounds (A B C A B C ...), so whatever else the
 * machine is doing during a stretch of time hits every contender of that stretch alike. A ratio is
 * never the ratio of two medians: it is computed round by round (A's round r ÷ B's round r, run
 * seconds apart) and reported as the median of those per-round ratios with their spread
 * (min–max). A target is decided only when the whole spread is on one side of it: a spread that
 * crosses the target is "undecided", not met or missed.
 */

/** A value measured once per round: the median of the rounds and their range. */
export interface Spread {
  median: number
  min: number
  max: number
  /** How many rounds it is made of. */
  n: number
}

/** A ratio a table prints, by name and cell, with its per-round spread (what compare.ts checks). */
export interface PrintedRatio {
  label: string
  cell: string
  spread: Spread
}

/** The middle value (the mean of the two middle ones for an even count); 0 for none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return 0
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** The spread of finite values (undefined when there are none). */
export function spreadOf(xs: readonly number[]): Spread | undefined {
  const v = xs.filter((x) => Number.isFinite(x))
  if (v.length === 0) return undefined
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length }
}

/**
 * Per-round ratios `a[i] / b[i]` (rounds paired by index, the two measured seconds apart), as a
 * spread. Rounds missing on either side, or with b = 0, are left out.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): Spread | undefined {
  const n = Math.min(a.length, b.length)
  const r: number[] = []
  for (let i = 0; i < n; i++) if (b[i] > 0 && Number.isFinite(a[i])) r.push(a[i] / b[i])
  return spreadOf(r)
}

export type Verdict = 'met' | 'missed' | 'undecided'

/** Met when every round meets the bound, missed when none does, undecided when the spread crosses it. */
export function verdictOf(s: Spread, ok: (v: number) => boolean): Verdict {
  const lo = ok(s.min)
  const hi = ok(s.max)
  if (lo && hi) return 'met'
  if (!lo && !hi) return 'missed'
  return 'undecided'
}

/** Either of two checks: met when one is met, missed when both are, undecided otherwise. */
export function eitherVerdict(a: Verdict | undefined, b: Verdict | undefined): Verdict | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  if (a === 'met' || b === 'met') return 'met'
  if (a === 'missed' && b === 'missed') return 'missed'
  return 'undecided'
}

/** Both checks: missed when one is missed, met when both are, undecided otherwise. */
export function bothVerdict(vs: readonly (Verdict | undefined)[]): Verdict | undefined {
  const known = vs.filter((v): v is Verdict => v !== undefined)
  if (known.length === 0) return undefined
  if (known.includes('missed')) return 'missed'
  if (known.every((v) => v === 'met')) return 'met'
  return 'undecided'
}

/** `0.84× (0.80–0.88)`. */
export function formatRatio(s: Spread | undefined): string {
  if (!s) return '–'
  return s.n > 1
    ? `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})`
    : `${s.median.toFixed(2)}×`
}

/** `12.3 (11.9–13.0)` with the given formatter. */
export function formatSpread(s: Spread | undefined, f: (v: number) => string): string {
  if (!s) return '–'
  return s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median)
}
