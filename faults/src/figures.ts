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
  /** What the suite asserts about it (the bound). */
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
