/**
 * `node dist/compare.js A.json B.json`: the check of issue 20 between two `pnpm bench` runs.
 * For every ratio measured in both, whether each run's median lies within the other's printed
 * range (min–max of the per-round ratios), and for every target whether the verdicts agree.
 * Prints Markdown; exits 0 (the tables are the answer, not a pass or a failure).
 */
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { pathToFileURL } from 'node:url'
import { registriesRatios } from './registries.js'
import type { Results } from './report.js'
import { startupRatios } from './startup.js'
import type { PrintedRatio, Spread } from './steady.js'
import { storeRatios } from './stores.js'

type Run = Pick<Results, 'ratios' | 'targets' | 'startedAt'> &
  Partial<Pick<Results, 'stores' | 'registries' | 'startup'>>

/** Every ratio a run's tables print with a spread: RPC, pub/sub, selector, then stores, registries, start-up. */
export function printedRatios(run: Run): PrintedRatio[] {
  const out: PrintedRatio[] = []
  for (const r of run.ratios)
    for (const [cell, spread] of Object.entries(r.spreads ?? {}))
      if (spread) out.push({ label: r.label, cell, spread })
  out.push(
    ...storeRatios(run.stores ?? []),
    ...registriesRatios(run.registries ?? []),
    ...startupRatios(run.startup ?? []),
  )
  return out
}

const fmt = (s: Spread) =>
  s.n > 1 ? `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})` : `${s.median.toFixed(2)}×`
const within = (v: number, s: Spread) => v >= s.min && v <= s.max

/** `both` when each median lies in the other's range, `one` when only one does, `no` otherwise. */
export function agreement(a: Spread, b: Spread): 'both' | 'one' | 'no' {
  const ab = within(a.median, b)
  const ba = within(b.median, a)
  return ab && ba ? 'both' : ab || ba ? 'one' : 'no'
}

/**
 * Two runs' verdicts of one target: `agree`, `differ` (decided in one, undecided in the other), or
 * `opposite` (met in one, missed in the other: the worse disagreement, counted apart).
 */
export function verdictAgreement(a: string, b: string): 'agree' | 'differ' | 'opposite' {
  if (a === b) return 'agree'
  return a === 'undecided' || b === 'undecided' ? 'differ' : 'opposite'
}

function main() {
  const [fa, fb] = process.argv.slice(2)
  if (!fa || !fb) throw new Error('usage: compare A.json B.json')
  const a = JSON.parse(readFileSync(fa, 'utf8')) as Run
  const b = JSON.parse(readFileSync(fb, 'utf8')) as Run
  // The runs are named after their files (run-h.json → run-h), as the README names them.
  const [na, nb] = [fa, fb].map((f) => basename(f, '.json'))
  const out: string[] = [
    `${na}: ${a.startedAt}; ${nb}: ${b.startedAt}.`,
    '',
    `| ratio | cell | ${na} | ${nb} | medians within the other range |`,
    '| --- | --- | --- | --- | --- |',
  ]
  const count = { both: 0, one: 0, no: 0 }
  const inB = printedRatios(b)
  for (const ra of printedRatios(a)) {
    const rb = inB.find((r) => r.label === ra.label && r.cell === ra.cell)
    if (!rb) continue
    const ag = agreement(ra.spread, rb.spread)
    count[ag]++
    const word = ag === 'both' ? 'yes' : ag === 'one' ? '**one way**' : '**no**'
    out.push(`| ${ra.label} | ${ra.cell} | ${fmt(ra.spread)} | ${fmt(rb.spread)} | ${word} |`)
  }
  out.push(
    '',
    `${count.both} ratios agree both ways, ${count.one} one way only, ${count.no} not at all.`,
    '',
    `| target | ${na} | ${nb} | verdicts |`,
    '| --- | --- | --- | --- |',
  )
  const verdicts = { agree: 0, differ: 0, opposite: 0 }
  for (const ta of a.targets) {
    const tb = b.targets.find((t) => t.target === ta.target)
    if (!tb || !ta.verdict || !tb.verdict) continue
    const v = verdictAgreement(ta.verdict, tb.verdict)
    verdicts[v]++
    const word = v === 'agree' ? 'agree' : `**${v}**`
    out.push(`| ${ta.target} | ${ta.verdict}: ${ta.measured} | ${tb.verdict}: ${tb.measured} | ${word} |`)
  }
  out.push(
    '',
    `${verdicts.agree} targets' verdicts agree, ${verdicts.differ + verdicts.opposite} differ ` +
      `(${verdicts.opposite} met in one run and missed in the other).`,
  )
  console.log(out.join('\n'))
}

// Run as a program, not when a test imports printedRatios and agreement.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main()
