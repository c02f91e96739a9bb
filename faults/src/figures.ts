/**
 * The figures a run measures: each scenario appends rows to one JSON-lines file
 * (FAULTS_RESULTS), and the runner turns them into the table the README keeps.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs'

export interface Figure {
  /** The fault: `SIGKILL 1 of 3 nodes under load`. */
  scenario: string
  /** What it was done to: a transport, a backend. */
  subject: string
  /** What this run measured, in words and numbers. */
  measured: string
  /** What the suite asserts about it (the issue's bound). */
  bound: string
  /** Did the run stay within the bound (the test asserts it too). */
  holds: boolean
  /** The raw numbers, for the JSON. */
  values: Record<string, number | string | boolean>
}

/** The order scenarios appear in the table. */
export const SCENARIOS = [
  'SIGKILL 1 of 3 nodes under load',
  'SIGTERM 1 of 3 nodes under load',
  'registry outage of 60 s',
  'registry returns empty',
  'etcd cluster: 1 of 3 members killed',
  'NATS cluster: 1 of 3 nodes killed',
  'backend restarted under a steady loop',
  'network: 100 ms latency',
  'network: 5 % loss',
  'network: 10 s partition',
] as const

const SUBJECTS = ['http', 'tcp', 'grpc']

/** Where rows go: FAULTS_RESULTS, else nowhere (a test file run on its own still asserts). */
function resultsFile(): string | undefined {
  return process.env.FAULTS_RESULTS || undefined
}

export function recordFigure(figure: Figure): void {
  const file = resultsFile()
  if (file) appendFileSync(file, `${JSON.stringify(figure)}\n`)
}

export function readFigures(file: string): Figure[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Figure)
}

function order(f: Figure): [number, number, string] {
  const s = (SCENARIOS as readonly string[]).indexOf(f.scenario)
  const t = SUBJECTS.indexOf(f.subject)
  return [s < 0 ? SCENARIOS.length : s, t < 0 ? SUBJECTS.length : t, f.subject]
}

export function sortFigures(figures: readonly Figure[]): Figure[] {
  return [...figures].sort((a, b) => {
    const [a1, a2, a3] = order(a)
    const [b1, b2, b3] = order(b)
    return a1 - b1 || a2 - b2 || a3.localeCompare(b3)
  })
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')

/** The Markdown table: one row per scenario and subject. */
export function renderTable(figures: readonly Figure[]): string {
  const lines = [
    '| fault | on | measured in this run | bound (asserted) | holds |',
    '| --- | --- | --- | --- | --- |',
  ]
  for (const f of sortFigures(figures)) {
    lines.push(
      `| ${cell(f.scenario)} | ${cell(f.subject)} | ${cell(f.measured)} | ${cell(f.bound)} | ${f.holds ? 'yes' : '**no**'} |`,
    )
  }
  return lines.join('\n')
}

/** `1,234`; fractions to `digits` places. */
export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

/** One complete run as the record keeps it (figures.json). */
export interface RecordedRun {
  startedAt: string
  minutes: number
  loadAverage: number
  /** How this run differs from a plain `--record` (added by hand: an older run, rows left out). */
  note?: string
  figures: Figure[]
}

/** What the recorded runs show for one row: the bound, how many runs held it, each value's range. */
export interface RowRange {
  scenario: string
  subject: string
  bound: string
  runs: number
  held: number
  values: Map<string, { min: number; max: number }>
}

/** The row a figure belongs to: its fault, its subject and its bound. */
export const rowKey = (f: Pick<Figure, 'scenario' | 'subject' | 'bound'>): string =>
  `${f.scenario} | ${f.subject} | ${f.bound}`

/** Each row's ranges over `runs` (booleans count as 0/1; NaN, a figure not measured, is skipped). */
export function rowRanges(runs: readonly RecordedRun[]): RowRange[] {
  const rows = new Map<string, RowRange & { first: Figure }>()
  for (const run of runs) {
    for (const f of run.figures) {
      const k = rowKey(f)
      let row = rows.get(k)
      if (!row) {
        row = {
          scenario: f.scenario,
          subject: f.subject,
          bound: f.bound,
          runs: 0,
          held: 0,
          values: new Map(),
          first: f,
        }
        rows.set(k, row)
      }
      row.runs++
      if (f.holds) row.held++
      for (const [name, raw] of Object.entries(f.values)) {
        const v = typeof raw === 'boolean' ? Number(raw) : raw
        if (typeof v !== 'number' || !Number.isFinite(v)) continue
        const r = row.values.get(name)
        if (r) {
          r.min = Math.min(r.min, v)
          r.max = Math.max(r.max, v)
        } else row.values.set(name, { min: v, max: v })
      }
    }
  }
  return sortFigures([...rows.values()].map((r) => r.first)).map((f) => {
    const { first: _, ...row } = rows.get(rowKey(f)) as RowRange & { first: Figure }
    return row
  })
}

/** How the table names a value: `inFlight` → `in flight`; a unit from the name's end (Ms, Pct). */
const LABELS: Record<string, string> = {
  acked: 'acknowledged',
  after: 'registrations after the first kill',
  backMs: 'all 3 listed again after etcd returned',
  calls: 'calls',
  callsFailed: 'calls failed',
  deregisterMs: 'deregistered after SIGTERM',
  drainMs: 'all received after publishing stopped',
  downMs: 'down (kill to ready)',
  errors: 'publish errors',
  exitMs: 'exit after SIGTERM',
  failed: 'failed',
  idempotentFailed: 'idempotent failed',
  inFlight: 'in flight on the node at the close',
  lastCalls: '1 s calls in the last 3 s',
  lastFailed: '1 s calls in the last 3 s failed',
  leased: 'node leases alive after',
  longCallOk: 'the 2 s call completed',
  longCalls: '1 s-deadline calls',
  longFailed: '1 s-deadline calls failed',
  longOkPct: 'ok with a 1 s deadline',
  longestMs: 'longest op while down',
  lost: 'acknowledged lost',
  lostLate: 'lost after reconnecting',
  lostAround: 'lost around the kill',
  okPct: 'ok',
  ops: 'ops',
  overrunMs: 'latest past its deadline',
  p50Ms: 'p50 of 1 s calls',
  p99Ms: 'p99 while etcd was down',
  published: 'published',
  recoveredMs: 'first success after healing',
  recoveryMs: 'working again after ready',
  redelivered: 'redelivered',
  registrations: 'registrations',
  reregisterMs: 'all 3 registered again after an empty etcd started',
  resumedMs: 'deliveries resumed after the kill',
  retried: 'retried',
  sentAfterClose: 'failed that were sent after the close',
  shortCalls: '50 ms-deadline calls',
  shortFailed: '50 ms-deadline calls failed (each a 408)',
  slowestMs: 'slowest registration after the first kill',
  stopMs: 'client stopped after asked',
  unclear: 'unclear errors',
  unexplained: 'failed registrations not in flight at a kill',
  unseen: 'registrations the watch missed',
}

function unit(name: string): string {
  if (name.endsWith('Ms')) return ' ms'
  if (name.endsWith('Pct')) return ' %'
  return ''
}

/** Values that are yes or no (recorded as true/false). */
const YES_NO = new Set(['longCallOk'])

function span({ min, max }: { min: number; max: number }, name: string): string {
  if (YES_NO.has(name)) return min === max ? (min ? 'yes' : 'no') : 'yes or no'
  const digits = name.endsWith('Pct') ? 1 : 0
  const a = fmt(min, digits)
  const b = fmt(max, digits)
  return `${a === b ? a : `${a}–${b}`}${unit(name)}`
}

/** Per scenario, the figures its test asserts exactly (a count of 0, every lease alive): the same in every run. */
const ASSERTED: Record<string, readonly string[]> = {
  'SIGKILL 1 of 3 nodes under load': ['sentAfterClose', 'idempotentFailed'],
  'SIGTERM 1 of 3 nodes under load': ['failed', 'longCallOk'],
  'registry outage of 60 s': ['failed'],
  'registry returns empty': ['failed'],
  'etcd cluster: 1 of 3 members killed': ['unexplained', 'unseen', 'leased', 'callsFailed'],
  'NATS cluster: 1 of 3 nodes killed': ['lostLate', 'lost', 'errors'],
  'backend restarted under a steady loop': ['unclear', 'lost'],
  'network: 10 s partition': ['lastFailed'],
}

/** Is `name` asserted exactly on this row (JetStream's publish errors may happen: not asserted). */
function asserted(scenario: string, subject: string, name: string): boolean {
  if (subject === 'JetStream' && name === 'errors') return false
  return ASSERTED[scenario]?.includes(name) ?? false
}

/** The README's table: per row, the bound, how many recorded runs held it, the figures asserted exactly, and the ranges of the rest. */
export function renderRangeTable(runs: readonly RecordedRun[]): string {
  const lines = [
    '| fault | on | bound (asserted in every run) | runs within it | asserted exactly (every run) | measured: lowest–highest over the recorded runs |',
    '| --- | --- | --- | --- | --- | --- |',
  ]
  for (const r of rowRanges(runs)) {
    const text = ([name, range]: [string, { min: number; max: number }]) =>
      `${LABELS[name] ?? name} ${span(range, name)}`
    const entries = [...r.values]
    const same = entries
      .filter(([name]) => asserted(r.scenario, r.subject, name))
      .map(text)
      .join('; ')
    const varied = entries
      .filter(([name]) => !asserted(r.scenario, r.subject, name))
      .map(text)
      .join('; ')
    lines.push(
      `| ${cell(r.scenario)} | ${cell(r.subject)} | ${cell(r.bound)} | ${r.held} of ${r.runs} | ${cell(same)} | ${cell(varied)} |`,
    )
  }
  return lines.join('\n')
}

/** This run's values outside what the recorded runs measured: one line per row (`name value (min–max)`). */
export function outsideRanges(figures: readonly Figure[], runs: readonly RecordedRun[]): string[] {
  const ranges = new Map(rowRanges(runs).map((r) => [rowKey(r), r]))
  const out: string[] = []
  for (const f of figures) {
    const r = ranges.get(rowKey(f))
    if (!r) continue
    const off: string[] = []
    for (const [name, raw] of Object.entries(f.values)) {
      const v = typeof raw === 'boolean' ? Number(raw) : raw
      const range = r.values.get(name)
      if (typeof v !== 'number' || !Number.isFinite(v) || !range) continue
      // Compared as the table shows them (whole numbers; percentages to 0.1).
      const shown = (x: number) => Number(x.toFixed(name.endsWith('Pct') ? 1 : 0))
      if (shown(v) < shown(range.min) || shown(v) > shown(range.max))
        off.push(`${LABELS[name] ?? name} ${span({ min: v, max: v }, name)} (recorded ${span(range, name)})`)
    }
    if (off.length > 0) out.push(`${f.scenario} | ${f.subject}: ${off.join('; ')}`)
  }
  return out
}
