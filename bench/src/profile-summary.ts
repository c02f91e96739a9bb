/**
 * `node dist/profile-summary.js FILE.cpuprofile [top]`: where a process spent its CPU, from a
 * V8 profile written by `pnpm bench --profile` — self time per function and per package.
 */
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples?: number[]
  timeDeltas?: number[]
}

/** `@micro-ts/core`, `undici`, `node:internal`, ... from a script URL. */
function packageOf(url: string): string {
  if (!url) return '(native / V8)'
  if (url.startsWith('node:')) return url.startsWith('node:internal/') ? 'node:internal' : url
  const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pnpm) return pnpm[1]
  const ours = /\/(packages|bench)\/([^/]+)\//.exec(url)
  if (ours) return ours[1] === 'bench' ? 'bench' : `@micro-ts/${ours[2]}`
  return url
}

function main() {
  const file = process.argv[2]
  const top = Number(process.argv[3] ?? 25)
  if (!file) throw new Error('usage: profile-summary FILE.cpuprofile [top]')
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  // Self time per node: sum the time deltas of the samples that landed on it.
  const self = new Map<number, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  for (let i = 0; i < samples.length; i++)
    self.set(samples[i], (self.get(samples[i]) ?? 0) + (deltas[i] ?? 0))
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const fn = new Map<string, number>()
  const pkg = new Map<string, number>()
  for (const [id, us] of self) {
    const n = byId.get(id)
    if (!n) continue
    const { functionName, url, lineNumber } = n.callFrame
    const name = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*\/(packages|bench|node_modules)\//, '$1/')}:${lineNumber + 1}` : ''}`
    fn.set(name, (fn.get(name) ?? 0) + us)
    const p = packageOf(url)
    pkg.set(p, (pkg.get(p) ?? 0) + us)
  }
  const show = (title: string, m: Map<string, number>, n: number) => {
    console.log(`\n${title}`)
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) {
      console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${k}`)
    }
  }
  const idle = fn.get('(idle) ') ?? 0
  console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${((total - idle) / 1e6).toFixed(2)} s busy`)
  show('self time by package', pkg, 15)
  show('self time by function', fn, top)
}

main()
