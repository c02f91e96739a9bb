/**
 * What the orchestrator needs to know about this machine before it starts anything: where the
 * compiled children are, whether Go and NATS are there, free loopback ports, and a description
 * of the machine for the report.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Child } from './proc.js'
import type { Shield } from './shield.js'

/** bench/dist (where the compiled children live) and bench/. */
export const distDir = dirname(fileURLToPath(import.meta.url))
export const benchDir = resolve(distDir, '..')
export const goDir = join(benchDir, 'go')

export interface BenchEnv {
  /** Unique per run: NATS subjects and Moleculer namespaces carry it. */
  runId: string
  natsUrl: string
  /** Why NATS cannot be used, or undefined when it answers. */
  natsMissing?: string
  /** Why the Go programs cannot be used, or undefined when they built. */
  goMissing?: string
  /** Extra `node` flags for our own processes (e.g. --expose-gc for the memory run). */
  ourNodeFlags: string[]
  /** With `--profile`: every Node process writes a CPU profile here, named after its role. */
  profileDir?: string
}

/** The `node` flags for one process: ours get ourNodeFlags; with --profile, everyone is profiled. */
export function nodeFlags(env: BenchEnv, label: string, ours: boolean): string[] {
  const flags = ours ? [...env.ourNodeFlags] : []
  if (env.profileDir) {
    const file = `${label.replace(/[^\w.-]+/g, '-')}.${process.hrtime.bigint()}.cpuprofile`
    flags.push('--cpu-prof', `--cpu-prof-dir=${env.profileDir}`, `--cpu-prof-name=${file}`)
  }
  return flags
}

/** A command every Node child started from now on runs under (valgrind), by the child's name. */
let nodeWrapper: ((name: string) => string[]) | undefined

/** Run the Node children started from now on under `wrapper(name)` (`undefined`: directly again). */
export function wrapNodeChildren(wrapper: ((name: string) => string[]) | undefined): void {
  nodeWrapper = wrapper
}

/** Start a compiled Node child of this package (`server.js`, `driver.js`, `pubsub.js`). */
export function nodeChild(name: string, script: string, args: string[], nodeFlags: string[] = []): Child {
  const command = [process.execPath, ...nodeFlags, join(distDir, script), ...args]
  const wrapped = nodeWrapper ? [...nodeWrapper(name), ...command] : command
  return new Child(name, wrapped[0], wrapped.slice(1))
}

export function goChild(name: string, program: string, args: string[]): Child {
  return new Child(name, join(goDir, 'bin', program), args)
}

/** Build the go-micro programs (Go's build cache makes this ~1 s when nothing changed). */
export function buildGo(): string | undefined {
  const version = spawnSync('go', ['version'], { encoding: 'utf8' })
  if (version.error || version.status !== 0) return '`go` is not installed (https://go.dev/dl)'
  const r = spawnSync('go', ['build', '-o', `${join(goDir, 'bin')}/`, './cmd/...'], {
    cwd: goDir,
    encoding: 'utf8',
  })
  if (r.status !== 0) return `go build failed: ${(r.stderr || r.stdout).trim().slice(-800)}`
  return undefined
}

export function newRunId(): string {
  return randomBytes(4).toString('hex')
}

export interface Machine {
  cpu: string
  cpus: number
  memoryGiB: number
  os: string
  node: string
  go?: string
  moleculer?: string
  nats?: string
  natsServer?: string
  /** 1-minute load average when the run started and ended: other work on the machine skews every number. */
  loadAverage?: { start: number; end: number }
  /** The run's priority and pinning (shield.ts); absent in runs from before it existed. */
  shield?: Shield
}

export function describeMachine(): Machine {
  const cpus = os.cpus()
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' })
    return r.status === 0 ? (r.stdout || r.stderr).trim() : undefined
  }
  const pkgVersion = (name: string) => {
    const file = join(benchDir, 'node_modules', name, 'package.json')
    return existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
      : undefined
  }
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    go: run('go', ['version'])?.replace(/^go version /, ''),
    moleculer: pkgVersion('moleculer'),
    nats: pkgVersion('nats'),
    natsServer: run('nats-server', ['--version']),
  }
}
