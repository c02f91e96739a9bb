#!/usr/bin/env node
// `pnpm test`: build, type-check the tests, start the backends, then run every vitest project:
// core, conformance and the greeter inside a private network namespace (they use mDNS), the
// backend plugins outside it (they need the servers on 127.0.0.1). Any failure fails the run.
//   pnpm test                 everything
//   pnpm test core store-redis  only these projects
// MICRO_TEST_BACKENDS=skip leaves the backends alone (their suites then skip, or fail under CI).
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const NETNS_PROJECTS = ['core', 'conformance', 'greeter']
const pluginProjects = readdirSync(new URL('../packages', import.meta.url)).filter(
  (d) => d !== 'core' && existsSync(new URL(`../packages/${d}/vitest.config.ts`, import.meta.url)),
)
const wanted = process.argv.slice(2)
const pick = (list) => (wanted.length ? list.filter((p) => wanted.includes(p)) : list)

function run(cmd, args, env = {}) {
  console.log(`\n$ ${cmd} ${args.join(' ')}`)
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...env } })
  if (r.status !== 0) {
    console.error(`\ntest: \`${cmd} ${args.join(' ')}\` failed (exit ${r.status ?? r.signal})`)
    process.exit(r.status || 1)
  }
}

run('pnpm', ['exec', 'tsc', '-b'])
// Tests are type-checked too: their @ts-expect-error lines are assertions about the public types.
for (const dir of ['packages', 'examples', '.']) {
  for (const d of readdirSync(new URL(`../${dir}`, import.meta.url))) {
    const tsconfig = `${dir === '.' ? '' : `${dir}/`}${d}/test/tsconfig.json`
    if (existsSync(new URL(`../${tsconfig}`, import.meta.url))) run('pnpm', ['exec', 'tsc', '-p', tsconfig])
  }
}

const inNs = pick(NETNS_PROJECTS)
const outside = pick(pluginProjects)
// Backends first: the plugin suites need their servers, the conformance project docker-compose.
if (process.env.MICRO_TEST_BACKENDS !== 'skip') run('bash', ['scripts/backends.sh'])
if (inNs.length) {
  const vitest = ['pnpm', 'exec', 'vitest', 'run', ...inNs.flatMap((p) => ['--project', p])]
  run('node', ['scripts/netns.mjs', ...vitest])
}
if (outside.length) {
  run('pnpm', ['exec', 'vitest', 'run', ...outside.flatMap((p) => ['--project', p])])
}
