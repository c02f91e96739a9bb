/**
 * `micro new`: every template, with a plugin, gives a package that builds (tsc) and whose own
 * test passes straight away. Generated inside the workspace (packages/cli/.test-output), so its
 * dependencies resolve from the CLI's own node_modules and nothing is downloaded.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { RUN_ID } from '@micro-ts/conformance/testing'
import { afterAll, describe, expect, it } from 'vitest'
import { micro, OUTPUT_DIR } from './helpers.js'

const TSC = fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url))
const parent = path.join(OUTPUT_DIR, `new-${RUN_ID}`)
afterAll(() => rmSync(parent, { recursive: true, force: true }))

function sh(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
    timeout: 120_000,
  })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

describe('micro new', () => {
  for (const [template, plugins] of [
    ['service', 'etcd'],
    ['pubsub', 'nats'],
    ['crud', 'etcd,redis'],
    ['gateway', 'etcd'],
  ] as const) {
    it(`--template ${template} --plugins ${plugins}: builds, and its test passes`, {
      timeout: 240_000,
    }, async () => {
      const name = `${template}-${RUN_ID}`
      const made = await micro(['new', name, '--template', template, '--plugins', plugins, '--dir', parent])
      expect(made.code, made.stderr).toBe(0)
      const dir = path.join(parent, name)
      for (const f of [
        'package.json',
        'tsconfig.json',
        'Dockerfile',
        'README.md',
        'src/main.ts',
        'src/handler.ts',
        'test/handler.test.ts',
      ]) {
        expect(existsSync(path.join(dir, f)), f).toBe(true)
      }
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'))
      // Exact versions, no ranges.
      for (const v of Object.values({ ...pkg.dependencies, ...pkg.devDependencies }) as string[])
        expect(v).toMatch(/^\d+\.\d+\.\d+$/)
      expect(Object.keys(pkg.dependencies)).toEqual(
        expect.arrayContaining(plugins.split(',').map((p) => expect.stringContaining(p))),
      )
      expect(readFileSync(path.join(dir, 'Dockerfile'), 'utf8')).toMatch(/ENV MICRO_(REGISTRY|BROKER)=/)
      const build = sh(process.execPath, [TSC, '-p', 'tsconfig.json'], dir)
      expect(build.code, build.out).toBe(0)
      expect(existsSync(path.join(dir, 'dist/main.js'))).toBe(true)
      const test = sh(process.execPath, ['--import', 'tsx', '--test', 'test/handler.test.ts'], dir)
      expect(test.code, test.out).toBe(0)
      expect(test.out).toMatch(/# fail 0/)
      expect(test.out).not.toMatch(/# pass 0\b/)
    })
  }

  it('refuses a bad name, an unknown plugin or template, and a directory in use', async () => {
    const bad = await micro(['new', 'Bad Name', '--dir', parent])
    expect(bad.code).toBe(2)
    expect(JSON.parse(bad.stderr)).toMatchObject({ code: 400 })
    expect((await micro(['new', 'x', '--plugins', 'zookeeper', '--dir', parent])).stderr).toMatch(
      /zookeeper: not one of/,
    )
    expect((await micro(['new', 'x', '--template', 'nope', '--dir', parent])).code).toBe(2)
    expect((await micro(['new', 'x', '--plugins', 'etcd,consul', '--dir', parent])).stderr).toMatch(
      /two registry plugins/,
    )
    const name = `service-${RUN_ID}`
    const again = await micro(['new', name, '--dir', parent])
    expect(again.stderr).toMatch(/exists and is not empty/)
  })
})
