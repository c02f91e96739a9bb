#!/usr/bin/env node
// Builds go-micro v5.30.0's own `micro` command (go-micro.dev/v5/cmd/micro) from the Go module
// proxy into ${MICRO_CACHE_DIR:-$HOME/.cache/micro-ts}/go-micro-cli-v5.30.0-1/micro, outside the
// clone, once; prints its path. Exit 3 when `go` is not installed, 1 when the build fails.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

const VERSION = 'v5.30.0'
const dir = join(
  process.env.MICRO_CACHE_DIR ?? join(homedir(), '.cache', 'micro-ts'),
  `go-micro-cli-${VERSION}-1`,
)
const bin = join(dir, 'micro')
if (!existsSync(bin)) {
  if (spawnSync('go', ['version']).error) {
    console.error("micro-cli: `go` is not installed; go-micro's micro command cannot be built")
    process.exit(3)
  }
  const src = join(dir, 'src')
  mkdirSync(src, { recursive: true })
  writeFileSync(join(src, 'go.mod'), `module microcli\n\ngo 1.24\n\nrequire go-micro.dev/v5 ${VERSION}\n`)
  const r = spawnSync('go', ['build', '-o', bin, 'go-micro.dev/v5/cmd/micro'], {
    cwd: src,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, GOFLAGS: '-mod=mod' },
  })
  if (r.status !== 0) process.exit(1)
}
console.log(bin)
