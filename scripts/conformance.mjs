#!/usr/bin/env node
// `pnpm conformance`: every implementation against its conformance suite.
//  - the backend plugins (packages/*/test/conformance.test.ts) outside any namespace, against the
//    servers scripts/backends.sh makes sure are running on 127.0.0.1;
//  - core's embedded implementations and built-in definitions (conformance/test) inside a private
//    network namespace (scripts/netns.mjs), because the mDNS registry multicasts.
// Fails when a suite fails, when a backend cannot be started, and, with CI set, when any test
// was skipped: CI never passes by skipping.
//   node scripts/conformance.mjs                  everything
//   node scripts/conformance.mjs store-redis core only these (core = the embedded implementations)
// MICRO_TEST_BACKENDS=skip leaves the backends alone (their suites then skip, or fail under CI).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const ci = ['', '0', 'false'].includes((process.env.CI ?? '').toLowerCase()) === false
const wanted = process.argv.slice(2)

/** Plugin packages with a conformance test file, as [vitest project name, package dir]. */
function pluginProjects() {
  const dir = path.join(root, 'packages')
  return readdirSync(dir)
    .filter((d) => d !== 'core')
    .filter((d) => existsSync(path.join(dir, d, 'test', 'conformance.test.ts')))
    .filter((d) => existsSync(path.join(dir, d, 'vitest.config.ts')))
    .map((d) => {
      const config = readFileSync(path.join(dir, d, 'vitest.config.ts'), 'utf8')
      const name = /name:\s*['"]([^'"]+)['"]/.exec(config)?.[1] ?? d
      return { project: name, dir: d }
    })
}

// Core's embedded implementations and the plugin-definition suite on every built-in definition.
const EMBEDDED_FILES = ['registry-', 'broker-', 'store-', 'transport-', 'definitions'].map(
  (p) => `conformance/test/${p}`,
)

const scratch = mkdtempSync(path.join(tmpdir(), 'micro-conformance-run-'))
const results = []
let failed = false

function run(label, cmd, args, env) {
  console.log(`\n=== ${label}\n$ ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...env } })
  if (r.status !== 0) {
    console.error(`conformance: ${label}: exit ${r.status ?? r.signal}`)
    failed = true
  }
  return r.status === 0
}

/** vitest run with a JSON report next to the normal output; returns the report (or undefined). */
function vitest(label, projects, filters, { netns = false, env = {} } = {}) {
  const report = path.join(scratch, `${label.replace(/\W+/g, '_')}.json`)
  const args = [
    'exec',
    'vitest',
    'run',
    ...projects.flatMap((p) => ['--project', p]),
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    ...filters,
  ]
  if (netns) run(label, 'node', ['scripts/netns.mjs', 'pnpm', ...args], env)
  else run(label, 'pnpm', args, env)
  if (!existsSync(report)) {
    console.error(`conformance: ${label}: vitest wrote no report`)
    failed = true
    return
  }
  const json = JSON.parse(readFileSync(report, 'utf8'))
  const tests = json.testResults.flatMap((file) =>
    file.assertionResults.map((t) => ({
      file: path.relative(root, file.name),
      name: t.fullName,
      status: t.status,
    })),
  )
  // A file that could not even be loaded has no tests but a failed status.
  for (const file of json.testResults) {
    if (file.status === 'failed' && file.assertionResults.length === 0) {
      tests.push({
        file: path.relative(root, file.name),
        name: `(file failed: ${file.message ?? 'no tests'})`,
        status: 'failed',
      })
    }
  }
  results.push({ label, tests })
}

// 1. Backends for the plugins.
const plugins = pluginProjects().filter((p) => wanted.length === 0 || wanted.includes(p.project))
const backendEnv = {}
if (plugins.length > 0) {
  if (process.env.MICRO_TEST_BACKENDS === 'skip') {
    console.log('\nconformance: MICRO_TEST_BACKENDS=skip: not starting backends')
  } else {
    console.log('\n=== backends\n$ bash scripts/backends.sh')
    const r = spawnSync('bash', ['scripts/backends.sh'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
    })
    if (r.status !== 0) {
      console.error('conformance: a backend could not be started (above): the plugin suites cannot run')
      process.exit(1)
    }
    for (const line of r.stdout.split('\n')) {
      const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line)
      if (m) backendEnv[m[1]] = m[2]
    }
  }
}

// 2. Plugins, outside the namespace (their servers are on the host's loopback).
if (plugins.length > 0) {
  vitest(
    'plugins',
    plugins.map((p) => p.project),
    ['test/conformance.test.ts'],
    { env: backendEnv },
  )
}

// 3. Core's embedded implementations, inside a private network namespace (mDNS).
if (wanted.length === 0 || wanted.includes('core') || wanted.includes('conformance')) {
  vitest('embedded', ['conformance'], EMBEDDED_FILES, { netns: true })
}

rmSync(scratch, { recursive: true, force: true })

// 4. Summary.
const all = results.flatMap((r) => r.tests)
const count = (s) => all.filter((t) => s.includes(t.status)).length
const passed = count(['passed'])
const failures = all.filter((t) => t.status === 'failed')
const skipped = all.filter((t) => ['skipped', 'pending', 'todo', 'disabled'].includes(t.status))
console.log('\n=== conformance summary')
const byFile = new Map()
for (const t of all) {
  const c = byFile.get(t.file) ?? { passed: 0, failed: 0, skipped: 0 }
  if (t.status === 'passed') c.passed++
  else if (t.status === 'failed') c.failed++
  else c.skipped++
  byFile.set(t.file, c)
}
for (const [file, c] of [...byFile].sort()) {
  console.log(`  ${file}: ${c.passed} passed, ${c.failed} failed${c.skipped ? `, ${c.skipped} skipped` : ''}`)
}
for (const t of failures) console.log(`  FAILED  ${t.file} > ${t.name}`)
if (skipped.length > 0) {
  console.log(`  ${skipped.length} skipped${ci ? ' (CI is set: skipping is a failure)' : ''}:`)
  for (const t of skipped.slice(0, 5)) console.log(`  SKIPPED ${t.file} > ${t.name}`)
  if (skipped.length > 5) console.log(`  ... and ${skipped.length - 5} more`)
}
if (all.length === 0) {
  console.log('  no conformance tests ran')
  failed = true
}
console.log(
  `${passed} passed, ${failures.length} failed${skipped.length ? `, ${skipped.length} skipped` : ''}`,
)
if (failures.length > 0 || (ci && skipped.length > 0)) failed = true
process.exit(failed ? 1 : 0)
