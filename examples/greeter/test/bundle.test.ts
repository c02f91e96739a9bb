/**
 * A service bundled with esbuild has no node_modules to import plugins from by name: the plugins
 * it bundled are handed over in code (`createService({ plugins })`), and `MICRO_STORE=redis`
 * resolves to the bundled one. The bundle runs from a directory outside the workspace against a
 * real Redis (a private one when redis-server is installed, as inside the test namespace).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { canConnect, hasCommand, requireBackend, testAddress } from '@micro-ts/conformance/testing'
import { RedisServer } from '@micro-ts/conformance/testing/redis'
import { build } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const dist = (f: string) => fileURLToPath(new URL(`../dist/${f}`, import.meta.url))
const out = mkdtempSync(path.join(os.tmpdir(), 'micro-bundle-'))
let redis: RedisServer | undefined
let redisAddress = testAddress('redis', '127.0.0.1:6379')

/** One ESM file with everything in it; CommonJS dependencies get a `require`. */
async function bundle(entry: string, name: string): Promise<string> {
  const outfile = path.join(out, name)
  await build({
    entryPoints: [dist(entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'error',
    banner: {
      js: "import { createRequire as __micro_require } from 'node:module'; const require = __micro_require(import.meta.url);",
    },
  })
  return outfile
}

const env = (extra: Record<string, string>) => ({
  PATH: process.env.PATH ?? '',
  MICRO_REGISTRY: 'memory',
  MICRO_BROKER: 'memory',
  MICRO_SERVER_ADDRESS: '127.0.0.1:0',
  MICRO_LOG_LEVEL: 'warn',
  ...extra,
})

let up = false
beforeAll(async () => {
  if (hasCommand('redis-server')) {
    redis = await new RedisServer().start()
    redisAddress = redis.address
  }
  const [host, port] = redisAddress.split(':')
  up = await requireBackend(`Redis at ${redisAddress}`, () => canConnect(host, Number(port)))
}, 60_000)
afterAll(async () => {
  await redis?.stop()
  rmSync(out, { recursive: true, force: true })
})

async function post(address: string, endpoint: string, body: unknown): Promise<unknown> {
  const res = await fetch(`http://${address}/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Micro-Service': 'greeter', 'Micro-Endpoint': endpoint },
    body: JSON.stringify(body),
  })
  const error = res.headers.get('micro-error')
  if (error) throw new Error(error)
  return res.json()
}

describe('a bundled greeter', () => {
  it('runs with MICRO_STORE=redis, the plugin it bundled and handed over in code', async (ctx) => {
    if (!up) ctx.skip()
    const file = await bundle('bundled.js', 'greeter.mjs')
    const child: ChildProcess = spawn(process.execPath, [file], {
      cwd: out,
      env: env({
        MICRO_STORE: 'redis',
        MICRO_STORE_ADDRESS: redisAddress,
        MICRO_STORE_TABLE: `bundle_${process.pid}`,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let text = ''
        child.stdout?.on('data', (d: Buffer) => {
          text += d.toString()
          const m = /greeter: listening on .*\n/.exec(text)
          if (m) resolve(m[0])
        })
        exited.then((code) => reject(new Error(`the bundle exited (${code}): ${stderr}`)))
      })
      expect(line).toContain('store redis')
      const address = /listening on (\S+)/.exec(line)?.[1] ?? ''
      expect(await post(address, 'Greeter.Hello', { name: 'Bundle' })).toEqual({ greeting: 'Hello Bundle' })
      await post(address, 'Greeter.Hello', { name: 'Bundle' })
      // The count lives in Redis: the store the bundle resolved works.
      expect(await post(address, 'Greeter.Stats', {})).toMatchObject({ greetings: { Bundle: 2 } })
      const ready = await fetch(`http://${address}/health/ready`)
      expect(ready.status).toBe(200)
    } finally {
      child.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
  })

  it('without the plugins handed over, MICRO_STORE=redis cannot be imported by name, and says what to do', async () => {
    const file = await bundle('service.js', 'plain.mjs')
    const r = spawnSync(process.execPath, [file], {
      cwd: out,
      env: env({ MICRO_STORE: 'redis' }),
      encoding: 'utf8',
      timeout: 30_000,
    })
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('MICRO_STORE=redis')
    expect(r.stderr).toContain('createService({ plugins: [...] })')
  })
})
