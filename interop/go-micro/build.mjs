#!/usr/bin/env node
// Builds the Go interop programs into bin/, cached: the build runs only when
// go.mod, go.sum, a .go file or the Go version changed since the last build
// (bin/.stamp holds a hash of all of them). Go's own build cache makes a
// rebuild after a change fast as well.
//   node build.mjs [--force]      exit 0 when bin/ is up to date, 1 on a build error,
//                                 3 when `go` is not installed
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const bin = join(here, 'bin')
const programs = [
  'greeter',
  'client',
  'publisher',
  'subscriber',
  'registry-dump',
  'traced-greeter',
  'traced-client',
]

function sources(dir) {
  const out = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'bin' || e.name === 'node_modules' || e.name.startsWith('.')) continue
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...sources(p))
    else if (e.name.endsWith('.go') || e.name === 'go.mod' || e.name === 'go.sum') out.push(p)
  }
  return out.sort()
}

const goVersion = spawnSync('go', ['version'], { encoding: 'utf8' })
if (goVersion.error || goVersion.status !== 0) {
  console.error('build: `go` is not installed (https://go.dev/dl); the go-micro interop programs need it')
  process.exit(3)
}
const hash = createHash('sha256').update(goVersion.stdout)
for (const f of sources(here)) hash.update(relative(here, f)).update('\0').update(readFileSync(f))
const digest = hash.digest('hex')
const stamp = join(bin, '.stamp')
const upToDate =
  !process.argv.includes('--force') &&
  existsSync(stamp) &&
  readFileSync(stamp, 'utf8') === digest &&
  programs.every((p) => existsSync(join(bin, p)))
if (upToDate) process.exit(0)

mkdirSync(bin, { recursive: true })
const r = spawnSync('go', ['build', '-o', `${bin}/`, './cmd/...'], { cwd: here, stdio: 'inherit' })
if (r.status !== 0) process.exit(1)
writeFileSync(stamp, digest)
