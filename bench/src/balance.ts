/**
 * Balancing and retries, side by side: three node processes of one service (http transport) and
 * one client process per contender, measured in interleaved rounds (A B C A B C).
 *
 * - `balance/slow-node`: one node answers 50 ms later than the other two; p99 and calls/s of
 *   `p2c` against `random` and `roundrobin` (target: p2c's p99 at most half of random's).
 * - `balance/failing-node`: one node answers every call with a 503; idempotent calls with one
 *   retry, with and without the retry budget and outlier ejection: the extra load retries add
 *   (attempts beyond one per call; target: at most 20 % with the budget) and the share of calls
 *   that failed.
 */
import { type BenchEnv, nodeChild, nodeFlags } from './env.js'
import type { Progress, Settings } from './measure.js'
import type { Child } from './proc.js'
import { type Target, targetOf } from './report.js'
import { formatRatio, pairedRatio, verdictOf } from './steady.js'

export const BALANCE_JOBS = ['balance/slow-node', 'balance/failing-node'] as const
const CONCURRENCY = 64
const SLOW_MS = 50

interface Contender {
  name: string
  what: string
  strategy: 'random' | 'roundrobin' | 'p2c'
  budget: boolean
  ejection: boolean
}

const SLOW_CONTENDERS: Contender[] = [
  {
    name: 'p2c',
    what: 'least loaded of two (EWMA latency × (1 + 0.1 × in flight))',
    strategy: 'p2c',
    budget: true,
    ejection: true,
  },
  { name: 'random', what: "go-micro's default", strategy: 'random', budget: true, ejection: true },
  { name: 'roundrobin', what: 'in turn', strategy: 'roundrobin', budget: true, ejection: true },
]

const FAILING_CONTENDERS: Contender[] = [
  {
    name: 'random, no budget, no ejection',
    what: 'every failed call retried once (what go-micro does)',
    strategy: 'random',
    budget: false,
    ejection: false,
  },
  {
    name: 'random + budget',
    what: 'retries at most 20 % of calls; the failing node keeps its share',
    strategy: 'random',
    budget: true,
    ejection: false,
  },
  {
    name: 'random + budget + ejection',
    what: 'the defaults: the failing node is set aside after 5 failures, probed back with back-off',
    strategy: 'random',
    budget: true,
    ejection: true,
  },
  {
    name: 'p2c + budget + ejection',
    what: 'MICRO_SELECTOR=p2c with the defaults',
    strategy: 'p2c',
    budget: true,
    ejection: true,
  },
]

export interface BalanceRow {
  scenario: 'slow-node' | 'failing-node'
  contender: string
  what: string
  /** Median round. */
  callsPerSec: number
  p50: number
  /** Over every measured call. */
  p99: number
  /** Each round's p99, ms (paired round by round with the other contenders'). */
  p99Rounds?: number[]
  /** Calls that failed, of all calls. */
  failedShare: number
  /** Attempts beyond one per call, of all calls. */
  extraLoad: number
  /** Attempts that went to the slow or failing node, of all attempts. */
  badNodeShare: number
}

/** Three nodes: the first slow by `delayMs` or failing every call. */
async function startNodes(env: BenchEnv, bad: { delayMs?: number; fail?: boolean }): Promise<Child[]> {
  const configs = [bad, {}, {}]
  const nodes = configs.map((c, i) =>
    nodeChild(
      `balance-node-${i}`,
      'balance-node.js',
      ['-', JSON.stringify({ transport: 'http', ...c })],
      nodeFlags(env, `balance-node-${i}`, true),
    ),
  )
  await Promise.all(nodes.map((n) => n.ready()))
  return nodes
}

async function measure(
  env: BenchEnv,
  scenario: BalanceRow['scenario'],
  contenders: Contender[],
  bad: { delayMs?: number; fail?: boolean },
  s: Settings,
  progress: Progress,
): Promise<BalanceRow[]> {
  const nodes = await startNodes(env, bad)
  const ready = await Promise.all(nodes.map((n) => n.ready()))
  const services = ready.map((r) => r.service)
  const badAddress = String(ready[0].address)
  const drivers = contenders.map((c) =>
    nodeChild(
      `balance-driver-${contenders.indexOf(c)}`,
      'balance-driver.js',
      [
        '-',
        JSON.stringify({
          transport: 'http',
          services,
          strategy: c.strategy,
          budget: c.budget,
          ejection: c.ejection,
        }),
      ],
      nodeFlags(env, `balance-driver-${c.name}`, true),
    ),
  )
  try {
    await Promise.all(drivers.map((d) => d.ready()))
    for (const d of drivers) await d.request('run', { concurrency: CONCURRENCY, durationMs: s.warmupMs })
    for (const d of drivers) await d.request('reset')
    const rates = contenders.map(() => [] as number[])
    const p99s = contenders.map(() => [] as number[])
    for (let round = 0; round < s.rounds; round++) {
      for (const [i, d] of drivers.entries()) {
        const r = await d.request('run', { concurrency: CONCURRENCY, durationMs: s.roundMs })
        rates[i].push((Number(r.calls) * 1000) / Number(r.elapsedMs))
        p99s[i].push(Number(r.p99))
      }
      progress(`balance ${scenario}: round ${round + 1}/${s.rounds}`)
    }
    const rows: BalanceRow[] = []
    for (const [i, d] of drivers.entries()) {
      const st = await d.request('stats')
      const calls = Number(st.count)
      const attempts = st.attempts as Record<string, number>
      const total = Object.values(attempts).reduce((a, b) => a + b, 0)
      rows.push({
        scenario,
        contender: contenders[i].name,
        what: contenders[i].what,
        callsPerSec: median(rates[i]),
        p50: Number(st.p50),
        p99: Number(st.p99),
        p99Rounds: p99s[i],
        failedShare: calls > 0 ? Number(st.failed) / calls : 0,
        extraLoad: calls > 0 ? (total - calls) / calls : 0,
        badNodeShare: total > 0 ? (attempts[badAddress] ?? 0) / total : 0,
      })
    }
    return rows
  } finally {
    await Promise.all([...drivers, ...nodes].map((c) => c.stop()))
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.floor(s.length / 2)] : 0
}

export async function runBalance(
  env: BenchEnv,
  s: Settings,
  progress: Progress,
  jobs: readonly string[],
): Promise<BalanceRow[]> {
  const rows: BalanceRow[] = []
  if (jobs.includes('balance/slow-node'))
    rows.push(...(await measure(env, 'slow-node', SLOW_CONTENDERS, { delayMs: SLOW_MS }, s, progress)))
  if (jobs.includes('balance/failing-node'))
    rows.push(...(await measure(env, 'failing-node', FAILING_CONTENDERS, { fail: true }, s, progress)))
  return rows
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`
const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1))
const int = (x: number) => Math.round(x).toLocaleString('en-US')

/** The two tables, for renderMarkdown. */
export function balanceTables(
  rows: readonly BalanceRow[],
): { title: string; head: string[]; rows: string[][] }[] {
  const out: { title: string; head: string[]; rows: string[][] }[] = []
  const slow = rows.filter((r) => r.scenario === 'slow-node')
  if (slow.length)
    out.push({
      title: `Balancing: three nodes, one ${SLOW_MS} ms slower (http, c=${CONCURRENCY})`,
      head: ['strategy', 'calls/s', 'p50 ms', 'p99 ms', 'calls to the slow node', 'what'],
      rows: slow.map((r) => [
        r.contender,
        int(r.callsPerSec),
        ms(r.p50),
        ms(r.p99),
        pct(r.badNodeShare),
        r.what,
      ]),
    })
  const failing = rows.filter((r) => r.scenario === 'failing-node')
  if (failing.length)
    out.push({
      title: `Retries: three nodes, one failing every call with a 503 (http, c=${CONCURRENCY}, idempotent, 1 retry)`,
      head: [
        'client',
        'calls/s',
        'failed calls',
        'extra load from retries',
        'attempts on the failing node',
        'what',
      ],
      rows: failing.map((r) => [
        r.contender,
        int(r.callsPerSec),
        pct(r.failedShare),
        pct(r.extraLoad),
        pct(r.badNodeShare),
        r.what,
      ]),
    })
  return out
}

export function balanceTargets(rows: readonly BalanceRow[]): Target[] {
  const out: Target[] = []
  const p2c = rows.find((r) => r.scenario === 'slow-node' && r.contender === 'p2c')
  const random = rows.find((r) => r.scenario === 'slow-node' && r.contender === 'random')
  if (p2c && random) {
    // Round by round, as every ratio of the steady method (steady.ts): the p99 of p2c's round r
    // over random's round r; results written before per-round p99s compare the overall ones.
    const perRound = pairedRatio(p2c.p99Rounds ?? [p2c.p99], random.p99Rounds ?? [random.p99])
    out.push(
      targetOf(
        'balance: p2c p99 ≤ 0.5× random p99 (three nodes, one 50 ms slower)',
        `${ms(p2c.p99)} ms vs ${ms(random.p99)} ms over all calls; per round ${formatRatio(perRound)}`,
        perRound ? verdictOf(perRound, (v) => v <= 0.5) : undefined,
      ),
    )
  }
  const budget = rows.find((r) => r.scenario === 'failing-node' && r.contender === 'random + budget')
  if (budget) {
    out.push(
      targetOf(
        'retries: extra load ≤ 20 % with the retry budget (one node failing every call)',
        `${pct(budget.extraLoad)} extra, ${pct(budget.failedShare)} of calls failed`,
        budget.extraLoad <= 0.2 ? 'met' : 'missed',
      ),
    )
  }
  return out
}
