/**
 * What every published package carries before it goes to npm (no build, no registry): the
 * Apache-2.0 LICENSE, the metadata npm shows, peer ranges of the policy, README links that work
 * on npmjs.com and the ESM-only sentence; and the demo's hint on a machine without `unshare`.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ts from 'typescript'
import { afterAll, describe, expect, it } from 'vitest'
import { firstReleaseTable, GITHUB, isPeerRange, peerRangeAdmits, REPO_URL } from '../src/policy.js'
import { publishedPackages, ROOT, readJson } from '../src/workspace.js'

const packages = publishedPackages()
const rootJson = readJson(path.join(ROOT, 'package.json'))
const versions = new Map(packages.map((p) => [p.name, p.json.version]))

// sha256 of the Apache License 2.0 text as the ASF publishes it (LICENSE-2.0.txt).
const APACHE_2_SHA256 = 'cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30'
/** The .ts files under `dir`, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(m|c)?tsx?$/.test(e.name) && !e.name.endsWith('.d.ts'))
    .map((e) => path.join(e.parentPath, e.name))
}
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

describe('packages fit for npm', () => {
  it('finds the published packages (core, conformance and the plugins at least)', () => {
    const names = packages.map((p) => p.name)
    for (const n of [
      '@micro-ts/core',
      '@micro-ts/conformance',
      '@micro-ts/registry-etcd',
      '@micro-ts/broker-nats',
    ])
      expect(names).toContain(n)
    expect(names).not.toContain('@micro-ts/example-greeter')
  })

  it('the root LICENSE is the Apache-2.0 text', () => {
    const text = readFileSync(path.join(ROOT, 'LICENSE'), 'utf8')
    expect(text).toContain('Apache License\n                           Version 2.0, January 2004')
    expect(sha256(path.join(ROOT, 'LICENSE'))).toBe(APACHE_2_SHA256)
  })

  describe.each(packages)('$name', ({ dir, json }) => {
    const abs = path.join(ROOT, dir)

    it('has the LICENSE (the same file as the root one) and license Apache-2.0', () => {
      expect(existsSync(path.join(abs, 'LICENSE')), `${dir}/LICENSE`).toBe(true)
      expect(sha256(path.join(abs, 'LICENSE'))).toBe(APACHE_2_SHA256)
      expect(json.license).toBe('Apache-2.0')
    })

    it('has the metadata npm shows', () => {
      expect(json.description?.length ?? 0).toBeGreaterThan(20)
      expect(json.keywords).toEqual(expect.arrayContaining(['micro-ts']))
      expect(json.repository).toEqual({ type: 'git', url: REPO_URL, directory: dir })
      expect(json.homepage).toBe(`${GITHUB}/tree/main/${dir}#readme`)
      expect(json.bugs).toEqual({ url: `${GITHUB}/issues` })
      expect(json.engines).toEqual(rootJson.engines)
      expect(json.publishConfig).toEqual({ access: 'public' })
      expect(json.files).toEqual(expect.arrayContaining(['dist', 'README.md']))
    })

    it('builds when packed: prepack is the build, and its tsconfig references every package its sources import', () => {
      expect(json.scripts?.prepack).toBe('tsc -b')
      expect(json.scripts?.build).toBe('tsc -b')
      // `tsc -b` in an unbuilt clone builds the referenced projects first; an import of one that
      // is not referenced finds no dist/ there and the pack fails.
      const tsconfig = ts.readConfigFile(path.join(abs, 'tsconfig.json'), ts.sys.readFile).config as {
        references?: { path: string }[]
      }
      const referenced = new Set((tsconfig.references ?? []).map((r) => path.resolve(abs, r.path)))
      const dirs = new Map(packages.map((p) => [p.name, path.join(ROOT, p.dir)]))
      for (const file of sources(path.join(abs, 'src'))) {
        for (const imported of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
          const name = /^@micro-ts\/[a-z0-9-]+/.exec(imported.fileName)?.[0]
          const dir = name && name !== json.name ? dirs.get(name) : undefined
          if (dir)
            expect(
              referenced.has(dir),
              `${path.relative(ROOT, file)} imports ${name}: add it to ${dir}'s references`,
            ).toBe(true)
        }
      }
    })

    it('takes our packages as peers with a >=0.x <1 range that admits the workspace version', () => {
      for (const [name, range] of Object.entries(json.peerDependencies ?? {})) {
        if (!name.startsWith('@micro-ts/')) continue
        expect(isPeerRange(range), `${name}: ${range}`).toBe(true)
        expect(range.startsWith('workspace:'), `${name}: ${range}`).toBe(true)
        expect(
          peerRangeAdmits(range, versions.get(name) ?? ''),
          `${name} ${versions.get(name)} in ${range}`,
        ).toBe(true)
      }
      for (const [name, range] of Object.entries(json.dependencies ?? {})) {
        if (name.startsWith('@micro-ts/')) expect(range, name).toBe('workspace:^')
      }
    })

    it('README: every link absolute (they work on npmjs.com) and every link into the repository alive', () => {
      const readme = readFileSync(path.join(abs, 'README.md'), 'utf8').replace(/^```[\s\S]*?^```/gm, '')
      const links = [...readme.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1])
      const refs = [...readme.matchAll(/^\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1])
      expect(links.length).toBeGreaterThan(0)
      for (const link of [...links, ...refs]) {
        expect(link, `relative link in ${dir}/README.md`).toMatch(/^(https?:\/\/|mailto:|#)/)
        const ours =
          /^https:\/\/(?:github\.com\/micro-ts\/micro-ts\/(?:blob|tree)|raw\.githubusercontent\.com\/micro-ts\/micro-ts)\/main\/([^#]+)/.exec(
            link,
          )
        if (ours)
          expect(existsSync(path.join(ROOT, decodeURI(ours[1]))), `${link} in ${dir}/README.md`).toBe(true)
      }
    })

    it('README: says ESM only, and that require() works on Node >= 20.19', () => {
      const readme = readFileSync(path.join(abs, 'README.md'), 'utf8')
      expect(readme).toMatch(/ESM only/)
      expect(readme).toMatch(/require\(/)
      expect(readme).toMatch(/20\.19/)
    })
  })

  it("RELEASING.md's first-release table lists exactly the published packages", () => {
    const table = firstReleaseTable()
    expect([...table.keys()].sort()).toEqual(packages.map((p) => p.name).sort())
  })

  it('the root scripts: release is changeset version, the build, then publish; test:release runs this project', () => {
    expect(rootJson.scripts?.release).toBe('changeset version && pnpm build && changeset publish')
    expect(rootJson.scripts?.['test:release']).toContain('release/vitest.config.ts')
  })
})

describe('pnpm demo on a machine without unshare', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'release-demo-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const demo = (PATH: string) =>
    spawnSync(process.execPath, [path.join(ROOT, 'scripts/demo.mjs')], {
      cwd: ROOT,
      env: { PATH, HOME: os.homedir(), FAKE_UNSHARE_LOG: path.join(dir, 'unshare.log') },
      encoding: 'utf8',
      timeout: 60_000,
    })

  it('says what to do instead of failing with spawnSync unshare ENOENT, and starts nothing', () => {
    const r = demo(path.join(dir, 'no-such-bin'))
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('there is no `unshare` on this machine')
    expect(r.stderr).toContain('On your own laptop the mDNS default needs no namespace')
    expect(r.stderr).toContain('node examples/greeter/dist/demo.js')
    expect(r.stderr).not.toContain('ENOENT')
    expect(r.stdout).toBe('')
  })

  it('on Linux with unshare the demo still goes through its private network namespace', () => {
    const bin = path.join(dir, 'bin')
    rmSync(bin, { recursive: true, force: true })
    mkdirSync(bin, { recursive: true })
    // A stand-in `unshare` that records its arguments: the demo never runs, nothing multicasts.
    writeFileSync(path.join(bin, 'unshare'), '#!/bin/sh\nprintf "%s " "$@" > "$FAKE_UNSHARE_LOG"\n')
    chmodSync(path.join(bin, 'unshare'), 0o755)
    const r = demo(bin)
    const onlyLoopback = Object.values(os.networkInterfaces()).every((l) =>
      (l ?? []).every((a) => a.internal),
    )
    if (onlyLoopback) {
      // Already inside a namespace: netns.mjs runs the demo as is, without unshare.
      expect(existsSync(path.join(dir, 'unshare.log'))).toBe(false)
      return
    }
    expect(r.status, r.stderr).toBe(0)
    const args = readFileSync(path.join(dir, 'unshare.log'), 'utf8')
    expect(args).toMatch(/^(-r )?-n -- bash -c /)
  })
})
