#!/usr/bin/env node
// `pnpm test`: build, type-check the tests, start the backends, then run every vitest project:
// core, conformance and the greeter inside a private network namespace (they use mDNS), the
// backend plugins and the go-micro interop suite outside it (they need servers on 127.0.0.1; the
// interop suite makes its own namespace for its mDNS scenarios). Any failure fails the run, and
// the last line is the total: `N passed, N failed` (`, N skipped`).
//   pnpm test                    everything
//   pnpm test core store-redis   only these projects
// MICRO_TEST_BACKENDS=skip leaves the backends alone (their suites then skip, or fail under CI).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const has = (p) => existsSync(path.join(root, p))
const NETNS_PROJECTS = ['core', 'conformance', 'greeter']
const outsideProjects = [
  ...readdirSync(path.join(root, 'packages')).filter(
    (d) => d !== 'core' && has(`packages/${d}/vitest.config.ts`),
  ),
  ...(has('interop/go-micro/vitest.config.ts') ? ['interop'] : []),
  ...(has('release/vitest.config.ts') ? ['release'] : []),
  ...(has('bench/vitest.config.ts') ? ['bench'] : []),
]
const wanted = process.argv.slice(2)
const pick = (list) => (wanted.length ? list.filter((p) => wanted.includes(p)) : list)
const reports = mkdtempSync(path.join(os.tmpdir(), 'micro-test-'))
const totals = { passed: 0, failed: 0, skipped: 0 }
let failures = 0

function run(cmd, args, { fatal = true } = {}) {
  console.log(`\n$ ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root })
  if (r.status !== 0) {
    console.error(`\ntest: \`${cmd} ${args.join(' ')}\` failed (exit ${r.status ?? r.signal})`)
    if (fatal) process.exit(r.status || 1)
    failures++
  }
}

/** vitest with a JSON report beside the usual output, so the totals can be summed up. */
function vitest(prefix, projects) {
  const report = path.join(reports, `${projects.join('-')}.json`)
  run(
    prefix[0],
    [
      ...prefix.slice(1),
      'pnpm',
      'exec',
      'vitest',
      'run',
      ...projects.flatMap((p) => ['--project', p]),
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${report}`,
    ],
    { fatal: false },
  )
  if (!existsSync(report)) {
    failures++
    return
  }
  const r = JSON.parse(readFileSync(report, 'utf8'))
  totals.passed += r.numPassedTests
  totals.failed += r.numFailedTests + (r.numFailedTestSuites ?? 0)
  totals.skipped += r.numPendingTests + (r.numTodoTests ?? 0)
}

run('pnpm', ['exec', 'tsc', '-b'])
// Tests are type-checked too: their @ts-expect-error lines are assertions about the public types.
for (const dir of ['packages', 'examples', 'interop']) {
  for (const d of readdirSync(path.join(root, dir))) {
    const tsconfig = `${dir}/${d}/test/tsconfig.json`
    if (has(tsconfig)) run('pnpm', ['exec', 'tsc', '-p', tsconfig])
  }
}

const inNs = pick(NETNS_PROJECTS)
const outside = pick(outsideProjects)
// Backends first: the plugin suites need their servers, the conformance project docker-compose.
if (process.env.MICRO_TEST_BACKENDS !== 'skip') run('bash', ['scripts/backends.sh'])
if (inNs.length) vitest(['node', 'scripts/netns.mjs'], inNs)
if (outside.length) vitest(['env'], outside)

rmSync(reports, { recursive: true, force: true })
const skipped = totals.skipped ? `, ${totals.skipped} skipped` : ''
console.log(`\n${totals.passed} passed, ${totals.failed} failed${skipped}`)
process.exit(failures > 0 || totals.failed > 0 ? 1 : 0)
