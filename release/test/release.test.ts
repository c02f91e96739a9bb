/**
 * The release as a maintainer runs it, against a real registry, and the journey of the users who
 * install what it published (RELEASING.md, "The release test"): a throwaway copy of the
 * repository is packed, versioned and published to a private Verdaccio by `pnpm release`; then,
 * outside any repository, fresh apps install from it with npm and with pnpm and run services on
 * etcd, NATS and PostgreSQL; a bundle runs without node_modules; and a third-party plugin passes
 * `npx micro-conformance`. The real repository is only read.
 */
import {
  cpSync,
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
import { fileURLToPath } from 'node:url'
import { canConnect, RUN_ID, requireBackend, testAddress } from '@micro-ts/conformance/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Background, run } from '../src/exec.js'
import { firstReleaseTable, isPeerRange, peerRangeAdmits } from '../src/policy.js'
import { type Registry, registryEnv, startVerdaccio, UPLINK } from '../src/verdaccio.js'
import {
  type PackageJson,
  publishedPackages,
  ROOT,
  readJson,
  throwawayCopy,
  type WorkspacePackage,
} from '../src/workspace.js'

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url))
const FROM = process.env.MICRO_RELEASE_FROM === 'worktree' ? 'worktree' : 'head'
const KEEP = process.env.MICRO_RELEASE_KEEP === '1'
const etcd = testAddress('etcd', '127.0.0.1:2379')
const nats = testAddress('nats', '127.0.0.1:4222')
const postgres = testAddress('postgres', 'postgresql://postgres@127.0.0.1:5432/test')

/** A probe that connects to `address` (host:port or a URL), for requireBackend. */
const reachable = (address: string, defaultPort: number) => async () => {
  const url = new URL(address.includes('://') ? address : `tcp://${address}`)
  if (!(await canConnect(url.hostname, Number(url.port) || defaultPort)))
    throw new Error('connection refused')
}
const ready =
  (await requireBackend(`etcd at ${etcd}`, reachable(etcd, 2379))) &&
  (await requireBackend(`NATS at ${nats}`, reachable(nats, 4222))) &&
  (await requireBackend(`PostgreSQL at ${postgres}`, reachable(postgres, 5432))) &&
  (await requireBackend(
    `the public npm registry at ${UPLINK} (Verdaccio's uplink for every package outside our scopes)`,
    async () => {
      const rsp = await fetch(new URL('-/ping', UPLINK))
      if (!rsp.ok) throw new Error(`HTTP ${rsp.status}`)
    },
    15_000,
  ))

/** What child processes inherit: none of the npm/pnpm/vitest/MICRO variables of this process. */
const baseEnv: NodeJS.ProcessEnv = {}
for (const [k, v] of Object.entries(process.env)) {
  if (!/^(npm_|pnpm_|COREPACK_|MICRO_|VITEST)|^NODE_OPTIONS$/i.test(k)) baseEnv[k] = v
}

const work = mkdtempSync(path.join(os.tmpdir(), 'micro-release-'))
const copy = path.join(work, 'repo')
const running: Background[] = []
let registry: Registry | undefined

afterAll(async () => {
  for (const p of running) await p.stop()
  await registry?.stop()
  if (KEEP) console.log(`release test: kept ${work}`)
  else rmSync(work, { recursive: true, force: true })
})

const lastLine = (s: string) => s.trim().split('\n').at(-1) ?? ''
const json = <T>(s: string): T => JSON.parse(s) as T

/** Every file an `exports`/`main`/`types`/`bin` entry names, without `./` (wildcards left out). */
function entryFiles(pkg: PackageJson & { exports?: unknown; main?: string; types?: string }): string[] {
  const out = new Set<string>()
  const walk = (v: unknown) => {
    if (typeof v === 'string') {
      if (!v.includes('*') && !v.endsWith('package.json')) out.add(v.replace(/^\.\//, ''))
    } else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x)
  }
  walk(pkg.exports)
  walk(pkg.main)
  walk(pkg.types)
  walk(pkg.bin)
  return [...out]
}

describe.runIf(ready)(`the release, on a throwaway copy of the repository (${FROM})`, () => {
  let packages: WorkspacePackage[] = []
  /** name → the version changesets plans. */
  const plan = new Map<string, string>()
  const peersBefore = new Map<string, Record<string, string>>()
  let env: NodeJS.ProcessEnv = {}
  let published = false

  beforeAll(async () => {
    expect(work.startsWith(ROOT), `${work} must be outside the repository`).toBe(false)
    throwawayCopy(copy, FROM)
    packages = publishedPackages(copy)
    for (const p of packages) peersBefore.set(p.name, { ...p.json.peerDependencies })
    const install = (frozen: boolean) =>
      run('pnpm', ['install', frozen ? '--frozen-lockfile' : '--no-frozen-lockfile', '--prefer-offline'], {
        cwd: copy,
        env: baseEnv,
        check: false,
      })
    let r = await install(true)
    if (r.code !== 0) {
      // Not this test's subject (CI installs with --frozen-lockfile on its own): say it and go on.
      console.warn(
        `release test: the lockfile does not match; installing without --frozen-lockfile\n${r.stderr}`,
      )
      r = await install(false)
    }
    expect(r.code, r.stderr).toBe(0)
  })

  it('the copy is what a fresh clone holds: published packages, none of them built', () => {
    expect(packages.map((p) => p.name)).toEqual(
      expect.arrayContaining(['@micro-ts/core', '@micro-ts/conformance']),
    )
    for (const p of packages) expect(existsSync(path.join(copy, p.dir, 'dist')), `${p.dir}/dist`).toBe(false)
  })

  it('npm pack in the unbuilt copy builds the package and what it references (prepack), and ships dist/, LICENSE, README', async () => {
    // registry-etcd builds core through its reference, the CLI core, the gateway, the dashboard
    // and MCP; every other package's tarball is checked on the registry after the release.
    const packs = path.join(work, 'packs')
    mkdirSync(packs, { recursive: true })
    const names = ['@micro-ts/registry-etcd', '@micro-ts/cli', '@micro-ts/conformance']
    for (const p of packages.filter((p) => names.includes(p.name))) {
      expect(existsSync(path.join(copy, p.dir, 'dist')), `${p.dir}/dist before npm pack`).toBe(false)
      const r = await run('npm', ['pack', '--json', '--pack-destination', packs], {
        cwd: path.join(copy, p.dir),
        env: baseEnv,
      })
      const [result] = json<{ filename: string; files: { path: string }[] }[]>(
        r.stdout.slice(r.stdout.search(/^\[/m)),
      )
      const files = result.files.map((f) => f.path)
      for (const f of ['LICENSE', 'README.md', 'package.json', ...entryFiles(p.json)])
        expect(files, `${p.name}: ${f}`).toContain(f)
      expect(
        files.filter((f) => /^test\/|\.tsbuildinfo$/.test(f)),
        p.name,
      ).toEqual([])
    }
    expect(
      existsSync(path.join(copy, 'packages/core/dist/index.js')),
      'core built through the reference',
    ).toBe(true)
  })

  it('changeset status plans the first release RELEASING.md states: each package minor, at its row, none at 1.0', async () => {
    const out = path.join(work, 'status.json')
    await run('pnpm', ['exec', 'changeset', 'status', '--output', out], { cwd: copy, env: baseEnv })
    const status = json<{ releases: { name: string; type: string; newVersion: string }[] }>(
      readFileSync(out, 'utf8'),
    )
    const table = firstReleaseTable(path.join(copy, 'RELEASING.md'))
    for (const r of status.releases) plan.set(r.name, r.newVersion)
    for (const p of packages) {
      const release = status.releases.find((r) => r.name === p.name)
      expect(table.has(p.name), `${p.name} has no row in RELEASING.md's first-release table`).toBe(true)
      expect(
        release?.type,
        `${p.name} is not released by its changesets (add a minor changeset: "First release of ...")`,
      ).toBe('minor')
      expect(release?.newVersion, p.name).toBe(table.get(p.name))
    }
    for (const r of status.releases) {
      expect(r.type, r.name).not.toBe('major')
      expect(Number(r.newVersion.split('.')[0]), `${r.name} ${r.newVersion}`).toBe(0)
    }
  })

  it('pnpm release (changeset version + publish) publishes every package to a fresh Verdaccio', async () => {
    registry = await startVerdaccio(path.join(work, 'verdaccio'), baseEnv)
    running.push(registry.server)
    env = registryEnv(registry, baseEnv, work)
    const r = await run('pnpm', ['release'], { cwd: copy, env })
    const output = r.stdout + r.stderr
    for (const p of packages) expect(output, p.name).toContain(`${p.name}@${plan.get(p.name)}`)
    const tags = (await run('git', ['tag', '--list'], { cwd: copy, env: baseEnv })).stdout.split('\n')
    for (const p of packages)
      expect(tags, 'git tag of the release').toContain(`${p.name}@${plan.get(p.name)}`)
    published = true
  })

  it('changeset version wrote the planned versions and a CHANGELOG each, kept the peer ranges, and the lockfile still matches', async () => {
    expect(published, 'pnpm release ran').toBe(true)
    for (const p of packages) {
      const now = readJson(path.join(copy, p.dir, 'package.json'))
      expect(now.version, p.name).toBe(plan.get(p.name))
      expect(now.peerDependencies ?? {}, `${p.name}: peer ranges`).toEqual(peersBefore.get(p.name))
      for (const [dep, range] of Object.entries(now.peerDependencies ?? {})) {
        if (!dep.startsWith('@micro-ts/')) continue
        expect(isPeerRange(range), `${p.name} -> ${dep} ${range}`).toBe(true)
        expect(
          peerRangeAdmits(range, plan.get(dep) ?? ''),
          `${p.name} -> ${dep} ${plan.get(dep)} in ${range}`,
        ).toBe(true)
      }
      const changelog = readFileSync(path.join(copy, p.dir, 'CHANGELOG.md'), 'utf8')
      expect(
        changelog.startsWith(`# ${p.name}\n\n## ${plan.get(p.name)}\n\n### Minor Changes\n`),
        changelog.slice(0, 200),
      ).toBe(true)
    }
    expect(
      readdirSync(path.join(copy, '.changeset')).filter((f) => f.endsWith('.md') && f !== 'README.md'),
    ).toEqual([])
    await run('pnpm', ['install', '--frozen-lockfile', '--offline'], { cwd: copy, env: baseEnv })
  })

  it('the registry holds every package at its version, with no workspace: range and dist/ and LICENSE in the tarball', async () => {
    expect(published && registry, 'pnpm release ran').toBeTruthy()
    const url = registry?.url ?? ''
    for (const p of packages) {
      const version = plan.get(p.name) ?? ''
      const doc = json<{
        'dist-tags': Record<string, string>
        versions: Record<string, PackageJson & { dist: { tarball: string } }>
      }>(await (await fetch(`${url}${p.name.replace('/', '%2f')}`)).text())
      expect(doc['dist-tags']?.latest, p.name).toBe(version)
      const manifest = doc.versions[version]
      for (const field of ['dependencies', 'peerDependencies', 'devDependencies'] as const) {
        for (const [dep, range] of Object.entries(manifest[field] ?? {})) {
          expect(range.startsWith('workspace:'), `${p.name} ${field} ${dep}: ${range}`).toBe(false)
          if (!dep.startsWith('@micro-ts/') || field === 'devDependencies') continue
          if (field === 'peerDependencies') {
            expect(
              isPeerRange(range) && peerRangeAdmits(range, plan.get(dep) ?? ''),
              `${p.name} peer ${dep}: ${range}`,
            ).toBe(true)
          } else expect(range, `${p.name} dependency ${dep}`).toBe(`^${plan.get(dep)}`)
        }
      }
      const tgz = path.join(work, `${p.name.replace('/', '-')}.tgz`)
      writeFileSync(tgz, Buffer.from(await (await fetch(manifest.dist.tarball)).arrayBuffer()))
      const files = (await run('tar', ['-tzf', tgz], { cwd: work, env: baseEnv })).stdout.split('\n')
      for (const f of ['LICENSE', 'README.md', ...entryFiles(manifest)])
        expect(files, `${p.name}: ${f}`).toContain(`package/${f}`)
    }
    // Private packages stay private.
    expect((await fetch(`${url}@micro-ts%2fexample-greeter`)).status).toBe(404)
  })

  /** The environment of a service in the apps: plugins by name, on this machine's backends. */
  const serviceEnv = (name: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    ...baseEnv,
    MICRO_REGISTRY: 'etcd',
    MICRO_REGISTRY_ADDRESS: etcd,
    MICRO_BROKER: 'nats',
    MICRO_BROKER_ADDRESS: nats,
    MICRO_STORE: 'postgres',
    MICRO_STORE_ADDRESS: postgres,
    MICRO_STORE_DATABASE: 'micro_release',
    MICRO_STORE_TABLE: 'notes',
    MICRO_SERVER_ADDRESS: '127.0.0.1:0',
    MICRO_LOG_LEVEL: 'warn',
    MICRO_LOG_FORMAT: 'json',
    NOTES_TOPIC: `${name}.events`,
    ...extra,
  })

  interface Ready {
    ready: string
    address: string
    registry: string
    broker: string
    store: string
  }

  /** Start `args` in `cwd` as the notes service `name`; resolves with its ready line. */
  async function startNotes(label: string, args: string[], cwd: string, env: NodeJS.ProcessEnv) {
    const service = new Background(label, process.execPath, args, { cwd, env })
    running.push(service)
    const ready = json<Ready>(await service.line((l) => l.startsWith('{"ready"')))
    return { service, ready }
  }

  /** Run the plain-JS caller against the notes service `name`; its JSON line. */
  async function callNotes(cwd: string, name: string, env: NodeJS.ProcessEnv) {
    const r = await run(process.execPath, ['caller.js'], {
      cwd,
      env: { ...env, MICRO_SERVER_NAME: `${name}-caller`, NOTES_SERVICE: name, NOTES_ID: `${name}-note` },
      timeout: 120_000,
    })
    return json<Record<string, unknown>>(lastLine(r.stdout))
  }

  const expectedCall = (name: string) => ({
    put: { id: `${name}-note`, text: 'hello from js', store: 'postgres' },
    badRequest: { id: name, code: 400, detail: 'id and text must be strings' },
    seen: [`${name}-note`],
    read: 'hello from js',
    afterDelete: 404,
  })

  const APP_DEPS = [
    '@micro-ts/core',
    '@micro-ts/registry-etcd',
    '@micro-ts/broker-nats',
    '@micro-ts/store-postgres',
  ]
  const appDir = (pm: string) => path.join(work, `app-${pm}`)
  const allDir = path.join(work, 'all')
  const acmeDir = path.join(work, 'acme-registry-file')
  let installs: Record<'npm' | 'pnpm' | 'all' | 'acme', Promise<unknown>> | undefined
  /**
   * The four installs from the registry, started together the first time one is needed (they
   * wait on the network, not on each other); each test awaits its own.
   */
  function installed(which: 'npm' | 'pnpm' | 'all' | 'acme'): Promise<unknown> {
    expect(published, 'pnpm release ran').toBe(true)
    if (!installs) {
      for (const pm of ['npm', 'pnpm']) cpSync(path.join(FIXTURES, 'app'), appDir(pm), { recursive: true })
      cpSync(path.join(FIXTURES, 'all'), allDir, { recursive: true })
      writeFileSync(
        path.join(allDir, 'package.json'),
        '{ "name": "all", "version": "1.0.0", "private": true }\n',
      )
      cpSync(path.join(FIXTURES, 'registry-file'), acmeDir, { recursive: true })
      installs = {
        // What a user types; the app's package.json already lists typescript, @types/node, esbuild.
        npm: run('npm', ['install', ...APP_DEPS], { cwd: appDir('npm'), env }),
        pnpm: run('pnpm', ['add', ...APP_DEPS], { cwd: appDir('pnpm'), env }),
        // pnpm's strict layout: a package that imports what it does not declare fails to load.
        all: run('pnpm', ['add', ...packages.map((p) => p.name)], { cwd: allDir, env }),
        acme: run('npm', ['install', '--save-dev', '@micro-ts/core', '@micro-ts/conformance'], {
          cwd: acmeDir,
          env,
        }),
      }
      for (const p of Object.values(installs)) p.catch(() => {}) // awaited (and reported) by its own test
    }
    return installs[which]
  }

  describe.each(['npm', 'pnpm'] as const)('a fresh app outside the repository, installed with %s', (pm) => {
    const app = appDir(pm)
    const name = `release-${RUN_ID}-${pm}`
    const exec = pm === 'npm' ? ['npx', '--no-install'] : ['pnpm', 'exec']

    it('installs @micro-ts/core, registry-etcd, broker-nats and store-postgres from the registry', async () => {
      await installed(pm)
      for (const dep of APP_DEPS) {
        expect(readJson(path.join(app, 'node_modules', dep, 'package.json')).version, dep).toBe(plan.get(dep))
      }
    })

    it('builds the TypeScript service (module NodeNext, strict, library types checked)', async () => {
      const [cmd, ...args] = exec
      await run(cmd, [...args, 'tsc', '-p', '.'], { cwd: app, env })
      expect(existsSync(path.join(app, 'dist', 'service.js'))).toBe(true)
    })

    it('the TypeScript service and a plain-JS one, plugins chosen by MICRO_*: registered, called, an event, the store', async () => {
      const { service, ready } = await startNotes(`${pm} notes service`, ['dist/service.js'], app, {
        ...serviceEnv(name),
        MICRO_SERVER_NAME: name,
      })
      expect(ready).toMatchObject({ ready: name, registry: 'etcd', broker: 'nats', store: 'postgres' })
      const result = await callNotes(app, name, serviceEnv(name))
      expect(result).toEqual({
        nodes: [ready.address],
        ...expectedCall(name),
        plugins: { registry: 'etcd', broker: 'nats', store: 'postgres' },
      })
      expect(await service.stop()).toBe(0) // SIGTERM: drained and deregistered, exit 0
    })
  })

  it('every published package imports, and require() works from CommonJS (Node >= 20.19), installed with pnpm', async () => {
    await installed('all')
    const specifiers = packages.flatMap((p) => {
      const exports = (p.json as { exports?: Record<string, unknown> }).exports ?? { '.': '' }
      return Object.keys(exports)
        .filter((k) => k !== './package.json' && !k.includes('*'))
        .map((k) => (k === '.' ? p.name : `${p.name}/${k.slice(2)}`))
    })
    for (const script of ['imports.mjs', 'requires.cjs']) {
      const r = await run(process.execPath, [script, ...specifiers], { cwd: allDir, env: baseEnv })
      const results = json<Record<string, { ok: boolean; error?: string }>>(lastLine(r.stdout))
      const failed = Object.entries(results).filter(([, v]) => !v.ok)
      expect(failed, script).toEqual([])
      expect(Object.keys(results).sort()).toEqual([...specifiers].sort())
    }
  })

  it('an esbuild bundle of the service runs from a folder without node_modules, its plugins handed over in code', async () => {
    const app = appDir('npm')
    expect(existsSync(path.join(app, 'dist', 'bundled.js')), 'the npm app was built').toBe(true)
    const out = path.join(work, 'bundle')
    await run(
      'npx',
      [
        '--no-install',
        'esbuild',
        'dist/bundled.js',
        '--bundle',
        '--platform=node',
        '--format=esm',
        '--target=node20',
        `--outfile=${path.join(out, 'service.mjs')}`,
        '--log-level=error',
        // A `require` for the CommonJS drivers inside the bundle (renamed: core imports createRequire too).
        "--banner:js=import { createRequire as __bundle_require } from 'node:module'; const require = __bundle_require(import.meta.url);",
      ],
      { cwd: app, env },
    )
    for (let d = out; d !== path.dirname(d); d = path.dirname(d))
      expect(existsSync(path.join(d, 'node_modules')), `${d}/node_modules`).toBe(false)
    const name = `release-${RUN_ID}-bundle`
    // The bundle has no registry plugin: it and its caller use the in-process one and a direct address.
    const bundleEnv = serviceEnv(name, { MICRO_REGISTRY: 'memory' })
    const { service, ready } = await startNotes('bundled notes service', ['service.mjs'], out, {
      ...bundleEnv,
      MICRO_SERVER_NAME: name,
    })
    expect(ready).toMatchObject({ ready: name, registry: 'memory', broker: 'nats', store: 'postgres' })
    const result = await callNotes(app, name, { ...bundleEnv, NOTES_ADDRESS: ready.address })
    expect(result).toEqual({
      ...expectedCall(name),
      plugins: { registry: 'memory', broker: 'nats', store: 'postgres' },
    })
    expect(await service.stop()).toBe(0)
  })

  it("a third-party author's registry plugin passes npx micro-conformance, installed from the registry", async () => {
    expect(published, 'pnpm release ran').toBe(true)
    await installed('acme')
    const dir = acmeDir
    await run('npx', ['--no-install', 'tsc', '-p', '.'], { cwd: dir, env })
    const records = path.join(work, 'acme-records')
    const r = await run(
      'npx',
      [
        '--no-install',
        'micro-conformance',
        'registry',
        './dist/index.js',
        '--options',
        JSON.stringify({ dir: records }),
      ],
      { cwd: dir, env: { ...env, NO_COLOR: '1' }, check: false },
    )
    const output = r.stdout + r.stderr
    expect(output).toContain('capabilities [shared, serviceMetadata] from the plugin definition')
    const total = /^(\d+) passed, (\d+) failed/m.exec(output)
    expect(total, output.slice(-3000)).not.toBeNull()
    expect(Number(total?.[2]), output.slice(-3000)).toBe(0)
    expect(Number(total?.[1])).toBeGreaterThanOrEqual(25)
    expect(r.code).toBe(0)
  })
})
