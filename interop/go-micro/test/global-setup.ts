/**
 * Before the interop suites: build the Go programs (cached by build.mjs) and the TypeScript
 * programs (tsc -b, incremental). A missing `go` is reported by the suites themselves, which
 * skip on a laptop and fail in CI.
 */
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { HERE } from './harness.js'

export default function setup(): void {
  const go = spawnSync(process.execPath, [join(HERE, 'build.mjs')], { stdio: 'inherit' })
  if (go.status !== 0 && go.status !== 3) throw new Error('building the Go interop programs failed')
  const tsc = createRequire(join(HERE, 'package.json')).resolve('typescript/bin/tsc')
  const ts = spawnSync(process.execPath, [tsc, '-b', HERE], { stdio: 'inherit' })
  if (ts.status !== 0)
    throw new Error('building the TypeScript interop programs failed (tsc -b interop/go-micro)')
}
