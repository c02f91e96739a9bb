/**
 * The release policy RELEASING.md states, as the tests check it: peer ranges on our own packages
 * are `>=0.<n>.<n> <1` before 1.0, and the first-release table says each package's version.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { ROOT } from './workspace.js'

export const REPO_URL = 'git+https://github.com/micro-ts/micro-ts.git'
export const GITHUB = 'https://github.com/micro-ts/micro-ts'

/** `>=0.1.0 <1`, optionally behind `workspace:`: any 0.x from the lower bound on. */
const PEER_RANGE = /^(?:workspace:)?>=(\d+)\.(\d+)\.(\d+) <1$/

export function isPeerRange(range: string): boolean {
  return PEER_RANGE.test(range)
}

/** Whether `version` (x.y.z) is inside a `>=a.b.c <1` range. */
export function peerRangeAdmits(range: string, version: string): boolean {
  const m = PEER_RANGE.exec(range)
  const v = /^(\d+)\.(\d+)\.(\d+)$/.exec(version)
  if (!m || !v) return false
  const lower = m.slice(1, 4).map(Number)
  const got = v.slice(1, 4).map(Number)
  if (got[0] >= 1) return false
  for (let i = 0; i < 3; i++) {
    if (got[i] !== lower[i]) return got[i] > lower[i]
  }
  return true
}

/** RELEASING.md's first-release table: package name → version. */
export function firstReleaseTable(file = path.join(ROOT, 'RELEASING.md')): Map<string, string> {
  const text = readFileSync(file, 'utf8')
  const section = text.split(/^## The first release$/m)[1]?.split(/^## /m)[0] ?? ''
  const rows = new Map<string, string>()
  for (const m of section.matchAll(/^\| `(@micro-ts\/[a-z0-9-]+)` \| (\d+\.\d+\.\d+) \|/gm))
    rows.set(m[1], m[2])
  return rows
}
