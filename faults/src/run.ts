#!/usr/bin/env node
/**
 * `pnpm test:faults`: make sure the servers the scenarios launch are installed, run the fault
 * suite (vitest project `faults`, one file at a time), then print the table of figures the run
 * measured (also written to results/latest.md, the numbers to results/latest.json: generated,
 * not committed), and check it against the record the README keeps: figures.json holds the
 * recorded runs and the README's table is rendered from it (each bound, how many runs held it,
 * each figure's lowest–highest). The run fails when a test failed, a figure is outside its bound,
 * or (a complete run) its rows are not the README's or the README's table is not the record's.
 * A figure outside the recorded range is printed as a note: those depend on the machine's load.
 *
 *   pnpm test:faults                   every scenario
 *   pnpm test:faults rpc-nodes         only the test files whose name contains this
 *   pnpm test:faults --record          a complete run that passed joins figures.json and the README
 *   pnpm test:faults --render          no run: draw the README's table from figures.json again
 *
 * MICRO_TEST_BACKENDS=skip leaves the installation alone (a missing server then fails under CI).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  outsideRanges,
  type RecordedRun,
  readFigures,
  renderRangeTable,
  renderTable,
  rowKey,
  sortFigures,
} from './figures.js'

const here = fileURLToPath(new URL('..', import.meta.url))
const root = path.resolve(here, '..')
const README = path.join(here, 'README.md')
const RECORD = path.join(here, 'figures.json')
const START = '<!-- faults:table -->'
const END = '<!-- /faults:table -->'

const args = process.argv.slice(2)
const record = args.includes('--record')
const renderOnly = args.includes('--render')
const filters = args.filter((a) => !a.startsWith('--'))
const started = Date.now()

const recorded: RecordedRun[] = existsSync(RECORD)
  ? (JSON.parse(readFileSync(RECORD, 'utf8')) as { runs: RecordedRun[] }).runs
  : []

/** The README's table: a header line on the recorded runs, then their table. */
function readmeTable(runs: readonly RecordedRun[]): string {
  if (runs.length === 0) return ''
  const dates = runs.map((r) => r.startedAt.slice(0, 16).replace('T', ' ')).sort()
  const span = (xs: number[]) => {
    const a = Math.min(...xs)
    const b = Math.max(...xs)
    return a === b ? `${a}` : `${a}–${b}`
  }
  const notes = runs
    .filter((r) => r.note)
    .map((r) => `- ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC: ${r.note}\n`)
    .join('')
  return (
    `${runs.length} recorded run${runs.length === 1 ? '' : 's'} (${dates[0]} to ${dates[dates.length - 1]} UTC), ` +
    `${span(runs.map((r) => r.minutes))} min each, load average ${span(runs.map((r) => r.loadAverage))} ` +
    `at the end of a run (2 vCPUs shared with other work).\n\n${notes}${notes ? '\n' : ''}${renderRangeTable(runs)}\n`
  )
}

/** The README with its table replaced by `table`. */
function withTable(readme: string, table: string): string {
  const a = readme.indexOf(START)
  const b = readme.indexOf(END)
  if (a < 0 || b < a) throw new Error(`README.md has no ${START} ... ${END} section`)
  return `${readme.slice(0, a + START.length)}\n${table}${readme.slice(b)}`
}

if (renderOnly) {
  // `--render`: the README's table from figures.json again (after a change to how it is drawn).
  writeFileSync(README, withTable(readFileSync(README, 'utf8'), readmeTable(recorded)))
  console.log(`test:faults: README table made from figures.json (${recorded.length} runs)`)
  process.exit(0)
}

if (process.env.MICRO_TEST_BACKENDS !== 'skip') {
  // Installs whatever server binary is missing (Debian packages); the scenarios start their own.
  const r = spawnSync(
    'bash',
    ['scripts/backends.sh', 'etcd', 'nats', 'rabbitmq', 'postgres', 'mariadb', 'redis'],
    {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  )
  if (r.status !== 0) {
    console.error('test:faults: scripts/backends.sh failed')
    process.exit(r.status || 1)
  }
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'micro-faults-'))
const results = path.join(tmp, 'figures.jsonl')
const run = spawnSync('pnpm', ['exec', 'vitest', 'run', '--root', here, ...filters], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, FAULTS_RESULTS: results },
})
const figures = sortFigures(readFigures(results))
rmSync(tmp, { recursive: true, force: true })

const minutes = Number(((Date.now() - started) / 60_000).toFixed(1))
const loadAverage = Number(os.loadavg()[0].toFixed(1))
const table = renderTable(figures)
const header =
  `Run ${new Date(started).toISOString()}, ${minutes} min; ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ` +
  `Node ${process.version}, load average ${loadAverage} at the end.`
console.log(`\n## Fault figures\n\n${header}\n\n${table}\n`)

mkdirSync(path.join(here, 'results'), { recursive: true })
writeFileSync(path.join(here, 'results', 'latest.md'), `${header}\n\n${table}\n`)
const thisRun: RecordedRun = { startedAt: new Date(started).toISOString(), minutes, loadAverage, figures }
writeFileSync(path.join(here, 'results', 'latest.json'), `${JSON.stringify(thisRun, null, 2)}\n`)

let failures = run.status === 0 ? 0 : 1
const broken = figures.filter((f) => !f.holds)
if (broken.length > 0) {
  console.error(`test:faults: ${broken.length} figure(s) outside their bound`)
  failures++
}

const readme = readFileSync(README, 'utf8')
const a = readme.indexOf(START)
const b = readme.indexOf(END)
const complete = filters.length === 0
if (a < 0 || b < a) {
  console.error(`test:faults: README.md has no ${START} ... ${END} section`)
  failures++
} else if (complete) {
  // The same rows (fault, subject, bound) as the README's table.
  const kept = readme
    .slice(a, b)
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| fault ') && !l.startsWith('| ---'))
    .map((l) => l.split(' | ').map((c) => c.replace(/^\| /, '').trim()))
    .map(([scenario, subject, bound]) => rowKey({ scenario, subject, bound }))
  const ran = figures.map(rowKey)
  const missing = kept.filter((k) => !ran.includes(k))
  const extra = ran.filter((k) => !kept.includes(k))
  for (const m of missing) console.error(`test:faults: the README has a row this run did not measure: ${m}`)
  for (const e of extra) console.error(`test:faults: this run measured a row the README lacks: ${e}`)
  if (missing.length + extra.length > 0 && !record) failures++
  if (!record && readme.slice(a + START.length, b).trim() !== readmeTable(recorded).trim()) {
    console.error(
      'test:faults: the README table is not the one figures.json makes (edit the record, not the table)',
    )
    failures++
  }
  if (record && failures === 0) {
    const runs = [...recorded.filter((r) => r.figures.every((f) => ran.includes(rowKey(f)))), thisRun]
    writeFileSync(RECORD, `${JSON.stringify({ runs }, null, 2)}\n`)
    writeFileSync(README, withTable(readme, readmeTable(runs)))
    console.log(`test:faults: recorded; figures.json and the README table now cover ${runs.length} runs`)
  } else if (record) {
    console.error('test:faults: not recorded: the run failed')
  }
}

const notes = outsideRanges(figures, recorded)
if (notes.length > 0) {
  console.log(
    `test:faults: ${notes.length} row(s) with figures outside what the recorded runs measured (not a failure: these vary with load):`,
  )
  for (const n of notes) console.log(`  ${n}`)
}

console.log(`test:faults: ${figures.length} figures in ${minutes} min${failures ? ', FAILED' : ''}`)
// The plain closing line CI reads: figures within their bound, and everything that failed (a
// figure outside its bound, a failed test, rows or table not the README's).
const held = figures.length - broken.length
console.log(
  `faults: ${held} passed, ${broken.length + Math.max(0, failures - (broken.length > 0 ? 1 : 0))} failed`,
)
process.exit(failures > 0 ? 1 : 0)
