// conformance/docker-compose.yml cannot run here (no Docker engine), so it is checked statically:
// docker-compose's own validation, the services it must hold, a health check on every backend,
// and the same address variables as CI (scripts/backends.sh) and the README.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { inCI } from '../src/index.js'

const file = fileURLToPath(new URL('../docker-compose.yml', import.meta.url))
const text = readFileSync(file, 'utf8')
const BACKENDS = ['consul', 'etcd', 'nats', 'rabbitmq', 'postgres', 'mysql', 'redis', 'k3s']

/** `docker-compose` (Debian's v1) or `docker compose` (the v2 plugin), whichever is installed. */
function composeCommand(): string[] | undefined {
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose']
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0)
    return ['docker', 'compose']
  return undefined
}

function compose(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const [cmd, ...pre] = composeCommand()!
  const r = spawnSync(cmd, [...pre, '-f', file, ...args], { encoding: 'utf8' })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** The text of one top-level service's block (our own file keeps two-space indentation). */
function serviceBlock(name: string): string {
  const start = text.indexOf(`\n  ${name}:\n`)
  expect(start, `service ${name}`).toBeGreaterThan(-1)
  const rest = text.slice(start + 1)
  const next = rest.slice(1).search(/\n {2}[a-z0-9-]+:\n|\n[a-z]/)
  return next === -1 ? rest : rest.slice(0, next + 1)
}

/** The variables CI exports: the `export NAME=` lines scripts/backends.sh prints. */
function ciVariables(): string[] {
  const script = readFileSync(fileURLToPath(new URL('../../scripts/backends.sh', import.meta.url)), 'utf8')
  return [...script.matchAll(/^export ([A-Z0-9_]+)=/gm)].map((m) => m[1])
}

const available = composeCommand() !== undefined
if (!available) {
  const why =
    'neither docker-compose nor docker compose is installed (bash scripts/backends.sh compose installs it)'
  if (inCI()) {
    it('docker compose is installed to validate docker-compose.yml', () => {
      expect.fail(why)
    })
  } else {
    console.warn(`\n*** SKIPPED docker-compose.yml validation: ${why} ***\n`)
  }
}

describe.skipIf(!available)('conformance/docker-compose.yml', () => {
  it('passes docker compose config', () => {
    const r = compose('config', '-q')
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
  })

  it('holds every backend and the conformance service', () => {
    const r = compose('config', '--services')
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout.trim().split('\n').sort()).toEqual([...BACKENDS, 'conformance'].sort())
  })

  it('every backend has a health check, and the conformance service waits for each to be healthy', () => {
    for (const name of BACKENDS) expect(serviceBlock(name), name).toContain('healthcheck:')
    const runner = serviceBlock('conformance')
    for (const name of BACKENDS)
      expect(runner).toMatch(new RegExp(`\\n {6}${name}: \\{ condition: service_healthy \\}`))
  })

  it('the conformance service reads the same address variables as CI, and the README documents them', () => {
    const runner = serviceBlock('conformance')
    const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8')
    const vars = ciVariables()
    expect(vars.length).toBeGreaterThanOrEqual(6)
    for (const v of vars) {
      expect(runner, v).toMatch(new RegExp(`\\n {6}${v}: \\S`))
      expect(readme, v).toContain(v)
    }
    expect(runner).toContain('pnpm conformance')
    expect(runner).toContain('corepack enable')
  })
})
