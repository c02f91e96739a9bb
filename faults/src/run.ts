#!/usr/bin/env node
/**
 * `pnpm test:faults`: make sure the servers the scenarios launch are installed, run the fault
 * suite (vitest project `faults`, one file at a time), then print the table of figures the run
 * measured, write it to results/latest.md (and the numbers to results/latest.json), and compare
 * its rows with the table the README keeps.
 *
 *   pnpm test:faults                   every scenario
 *   pnpm test:faults rpc-nodes         only the test files whose name contains this
 *   pnpm test:faults --update-readme   also paste this run's table into the README
 *
 * MICRO_TEST_BACKENDS=skip leaves the installation alone (a missing server then fails under CI).
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Figure, readFigures, renderTable, sortFigures } from './figures.js'

const here = fileURLToPath(new URL('..', import.meta.url))
const root = path.resolve(here, '..')
const README = path.join(here, 'README.md')
const START = '<!-- faults:table -->'
const END = '<!-- /faults:table -->'

const args = process.argv.slice(2)
const updateReadme = args.includes('--update-readme')
const filters = args.filter((a) => !a.startsWith('--'))
const started = Date.now()

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

const minutes = ((Date.now() - started) / 60_000).toFixed(1)
const table = renderTable(figures)
const header =
  `Run ${new Date(started).toISOString()}, ${minutes} min; ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ` +
  `Node ${process.version}, load average ${os.loadavg()[0].toFixed(1)} at the end.`
console.log(`\n## Fault figures\n\n${header}\n\n${table}\n`)

mkdirSync(path.join(here, 'results'), { recursive: true })
writeFileSync(path.join(here, 'results', 'latest.md'), `${header}\n\n${table}\n`)
writeFileSync(
  path.join(here, 'results', 'latest.json'),
  `${JSON.stringify({ startedAt: new Date(started).toISOString(), minutes: Number(minutes), figures }, null, 2)}\n`,
)

let failures = run.status === 0 ? 0 : 1
const broken = figures.filter((f) => !f.holds)
if (broken.length > 0) {
  console.error(`test:faults: ${broken.length} figure(s) outside their bound`)
  failures++
}

// The README keeps the table of a complete run: the same rows (fault, subject, bound).
const readme = readFileSync(README, 'utf8')
const a = readme.indexOf(START)
const b = readme.indexOf(END)
if (a < 0 || b < a) {
  console.error(`test:faults: README.md has no ${START} ... ${END} section`)
  failures++
} else if (updateReadme) {
  writeFileSync(README, `${readme.slice(0, a + START.length)}\n${header}\n\n${table}\n${readme.slice(b)}`)
  console.log('test:faults: README table updated')
} else if (filters.length === 0) {
  const key = (f: Pick<Figure, 'scenario' | 'subject' | 'bound'>) =>
    `${f.scenario} | ${f.subject} | ${f.bound}`
  const kept = readme
    .slice(a, b)
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| fault ') && !l.startsWith('| ---'))
    .map((l) => l.split(' | ').map((c) => c.replace(/^\| /, '').trim()))
    .map(([scenario, subject, , bound]) => key({ scenario, subject, bound }))
  const ran = figures.map(key)
  const missing = kept.filter((k) => !ran.includes(k))
  const extra = ran.filter((k) => !kept.includes(k))
  if (missing.length > 0 || extra.length > 0) {
    for (const m of missing) console.error(`test:faults: the README has a row this run did not measure: ${m}`)
    for (const e of extra) console.error(`test:faults: this run measured a row the README lacks: ${e}`)
    console.error('test:faults: run with --update-readme after a complete run to refresh it')
    failures++
  }
}

console.log(`test:faults: ${figures.length} figures in ${minutes} min${failures ? ', FAILED' : ''}`)
process.exit(failures > 0 ? 1 : 0)
