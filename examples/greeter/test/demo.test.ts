/**
 * The demo as a user runs it: service and client as separate processes on the embedded defaults
 * (mDNS, so this project runs inside the private network namespace `pnpm test` creates).
 */
import { spawn, spawnSync } from 'node:child_process'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const isolated =
  process.env.MICRO_NETNS === '1' ||
  Object.values(os.networkInterfaces()).every((l) => (l ?? []).every((a) => a.internal))
if (!isolated) {
  const msg =
    'the greeter demo uses mDNS: run it inside a private network namespace (node scripts/netns.mjs ...)'
  if (process.env.CI) throw new Error(msg)
  console.warn(`\n!!! SKIPPED: ${msg}\n`)
}
const dist = (f: string) => fileURLToPath(new URL(`../dist/${f}`, import.meta.url))
const env: NodeJS.ProcessEnv = { ...process.env, MICRO_LOG_LEVEL: 'warn' }
for (const k of ['MICRO_REGISTRY', 'MICRO_BROKER', 'MICRO_STORE', 'MICRO_TRANSPORT']) delete env[k]

describe.skipIf(!isolated)('greeter demo', () => {
  it('prints the greeting and the event, and the greeter stops gracefully', () => {
    const r = spawnSync(process.execPath, [dist('demo.js')], { env, encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toContain('Hello John')
    expect(r.stdout).toContain('greeter: event received {"name":"event"}')
    expect(r.stdout).toContain('received by the greeter')
    expect(r.stdout).toContain('greeter: stopped')
  })

  it('answers a plain HTTP POST exactly as curl would see it, and serves health', async () => {
    const proc = spawn(process.execPath, [dist('service.js')], {
      env: { ...env, MICRO_SERVER_ADDRESS: '127.0.0.1:0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    try {
      const address = await new Promise<string>((resolve, reject) => {
        let out = ''
        proc.stdout!.on('data', (d: Buffer) => {
          out += d.toString()
          const m = /listening on (\S+)/.exec(out)
          if (m) resolve(m[1])
        })
        proc.on('exit', (code) => reject(new Error(`service exited (${code})`)))
      })
      const res = await fetch(`http://${address}/`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'Micro-Service': 'greeter',
          'Micro-Endpoint': 'Greeter.Hello',
        },
        body: '{"name":"John"}',
      })
      expect(res.status).toBe(200)
      expect((await res.text()).trim()).toBe('{"greeting":"Hello John"}')
      // go-micro's protocol: an error is a 200 whose Micro-Error header holds the error JSON.
      const bad = await fetch(`http://${address}/`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'Micro-Service': 'greeter',
          'Micro-Endpoint': 'Greeter.Hello',
        },
        body: '{"name":42}',
      })
      expect(bad.status).toBe(200)
      expect(await bad.text()).toBe('')
      expect(JSON.parse(bad.headers.get('micro-error') ?? '')).toEqual({
        id: 'greeter',
        code: 400,
        detail: 'name must be a string',
        status: 'Bad Request',
      })
      const health = await fetch(`http://${address}/health`)
      expect(health.status).toBe(200)
      expect(await health.json()).toMatchObject({ status: 'up' })
    } finally {
      const exited = new Promise((r) => proc.on('exit', r))
      proc.kill('SIGTERM')
      await exited
    }
  })

  it('MICRO_REGISTRY=nosuch fails at start-up naming the variable and what to install', () => {
    const r = spawnSync(process.execPath, [dist('service.js')], {
      env: { ...env, MICRO_REGISTRY: 'nosuch' },
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('MICRO_REGISTRY=nosuch')
    expect(r.stderr).toContain('pnpm add @micro-ts/registry-nosuch')
  })
})
