/**
 * A real npm registry for the release test: Verdaccio on 127.0.0.1 with throwaway storage and one
 * test user. Our scopes (`@micro-ts`, `@acme`) live only in it; every other package is proxied from
 * the public registry (the uplink), so a fresh app installs exactly as a user's would.
 *
 * Verdaccio itself is installed once per machine from `release/verdaccio/` (package.json and its
 * lockfile) with `npm ci`, outside the clone like every other cached server:
 * `${MICRO_CACHE_DIR:-~/.cache/micro-ts}/verdaccio-<version>-<lockfile hash>/`.
 */
import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '@micro-ts/conformance/testing'
import { Background, run } from './exec.js'

const RECIPE = fileURLToPath(new URL('../verdaccio/', import.meta.url))
/** Where every package outside our scopes comes from. */
export const UPLINK = process.env.MICRO_RELEASE_UPLINK ?? 'https://registry.npmjs.org/'

/** The scopes that exist only in the test registry (never proxied, so npm's real ones cannot leak in). */
export const LOCAL_SCOPES = ['@micro-ts', '@acme']

/** Install Verdaccio into the machine's cache (once per lockfile) and return its folder. */
export async function installVerdaccio(env: NodeJS.ProcessEnv): Promise<string> {
  const lock = readFileSync(path.join(RECIPE, 'package-lock.json'))
  const version = (
    JSON.parse(readFileSync(path.join(RECIPE, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>
    }
  ).dependencies.verdaccio
  const key = createHash('sha256').update(lock).digest('hex').slice(0, 12)
  const cache = process.env.MICRO_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'micro-ts')
  const dir = path.join(cache, `verdaccio-${version}-${key}`)
  if (existsSync(path.join(dir, 'node_modules', 'verdaccio', 'package.json'))) return dir
  const temp = `${dir}.tmp-${process.pid}`
  rmSync(temp, { recursive: true, force: true })
  mkdirSync(temp, { recursive: true })
  for (const f of ['package.json', 'package-lock.json'])
    copyFileSync(path.join(RECIPE, f), path.join(temp, f))
  await run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', `--registry=${UPLINK}`], {
    cwd: temp,
    env,
  })
  try {
    renameSync(temp, dir) // another run may have finished first: keep its copy
  } catch {
    rmSync(temp, { recursive: true, force: true })
  }
  return dir
}

export interface Registry {
  /** `http://127.0.0.1:<port>/` */
  url: string
  /** The test user's token. */
  token: string
  /** An npmrc that points npm and pnpm at this registry with the token. */
  npmrc: string
  server: Background
  stop(): Promise<void>
}

/** Start Verdaccio on a free loopback port with storage under `dir`, and create the test user. */
export async function startVerdaccio(dir: string, env: NodeJS.ProcessEnv): Promise<Registry> {
  const install = await installVerdaccio(env)
  const port = await freePort()
  mkdirSync(dir, { recursive: true })
  const local = LOCAL_SCOPES.map(
    (scope) =>
      `  '${scope}/*':\n    access: $all\n    publish: $authenticated\n    unpublish: $authenticated\n`,
  ).join('')
  const config = path.join(dir, 'config.yaml')
  writeFileSync(
    config,
    [
      `storage: ${path.join(dir, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${path.join(dir, 'htpasswd')}`,
      '    max_users: 1',
      'uplinks:',
      '  upstream:',
      `    url: ${UPLINK}`,
      '    timeout: 60s',
      'packages:',
      local.trimEnd(),
      "  '**':",
      '    access: $all',
      '    publish: $authenticated',
      '    proxy: upstream',
      'max_body_size: 100mb',
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  )
  const server = new Background(
    'verdaccio',
    process.execPath,
    [
      path.join(install, 'node_modules', 'verdaccio', 'bin', 'verdaccio'),
      '--config',
      config,
      '--listen',
      `127.0.0.1:${port}`,
    ],
    { cwd: dir, env },
  )
  const url = `http://127.0.0.1:${port}/`
  const stop = async () => {
    await server.stop()
  }
  try {
    const deadline = Date.now() + 60_000
    for (;;) {
      const up = await fetch(`${url}-/ping`).then(
        (r) => r.ok,
        () => false,
      )
      if (up) break
      if (Date.now() > deadline) throw new Error(`verdaccio did not answer on ${url}:\n${server.output}`)
      await new Promise((r) => setTimeout(r, 200))
    }
    // npm adduser, without its prompts: Verdaccio's CouchDB-style user endpoint answers a token.
    const rsp = await fetch(`${url}-/user/org.couchdb.user:release-test`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'release-test', password: `pw-${process.pid}-${Date.now()}` }),
    })
    const body = (await rsp.json()) as { token?: string; error?: string }
    if (!rsp.ok || !body.token)
      throw new Error(`verdaccio: cannot create the test user: ${JSON.stringify(body)}`)
    const npmrc = path.join(dir, 'npmrc')
    writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${body.token}\n`)
    return { url, token: body.token, npmrc, server, stop }
  } catch (e) {
    await stop()
    throw e
  }
}

/**
 * The environment every package manager in the test runs with: only this registry, only this
 * npmrc (no user or global config, so no real npm token can be used by accident), and none of
 * the npm_* variables of the pnpm or vitest process that started the test.
 */
export function registryEnv(registry: Registry, base: NodeJS.ProcessEnv, home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(base)) {
    if (!/^(npm_|pnpm_|PNPM_|COREPACK_)/i.test(k)) env[k] = v
  }
  const global = path.join(home, 'global-npmrc')
  writeFileSync(global, '')
  return {
    ...env,
    npm_config_registry: registry.url,
    npm_config_userconfig: registry.npmrc,
    npm_config_globalconfig: global,
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  }
}
