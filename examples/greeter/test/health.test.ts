/**
 * Kubernetes' view of the greeter on the tcp transport: a health listener of its own answers the
 * probes, and readiness follows the store's Redis going away and coming back.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { eventually, hasCommand, requireThat } from '@micro-ts/conformance/testing'
import { RedisServer } from '@micro-ts/conformance/testing/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const service = fileURLToPath(new URL('../dist/service.js', import.meta.url))
const can = requireThat(
  hasCommand('redis-server'),
  'redis-server is not installed (apt install redis-server)',
)
let redis: RedisServer
let greeter: ChildProcess | undefined
let health = ''

beforeAll(async () => {
  if (!can) return
  redis = await new RedisServer().start()
  greeter = spawn(process.execPath, [service], {
    env: {
      PATH: process.env.PATH ?? '',
      MICRO_REGISTRY: 'memory',
      MICRO_BROKER: 'memory',
      MICRO_TRANSPORT: 'tcp',
      MICRO_STORE: 'redis',
      MICRO_STORE_ADDRESS: redis.address,
      MICRO_SERVER_ADDRESS: '127.0.0.1:0',
      MICRO_LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  health = await new Promise<string>((resolve, reject) => {
    let out = ''
    greeter?.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /health on http:\/\/(\S+)\/health/.exec(out)
      if (m) resolve(m[1])
    })
    greeter?.on('exit', (code) => reject(new Error(`the greeter exited (${code})`)))
  })
}, 60_000)

afterAll(async () => {
  if (greeter && greeter.exitCode === null) {
    const exited = new Promise((resolve) => greeter?.on('exit', resolve))
    greeter.kill('SIGTERM')
    await exited
  }
  await redis?.stop()
})

async function ready(): Promise<{ status: number; store?: { status: string; error?: string } }> {
  const res = await fetch(`http://${health}/health/ready`)
  const body = (await res.json()) as { checks: { name: string; status: string; error?: string }[] }
  return { status: res.status, store: body.checks.find((c) => c.name === 'store') }
}

describe.runIf(can)('greeter health on the tcp transport', () => {
  it('answers live and ready on its own port', async () => {
    expect(health).toMatch(/^127\.0\.0\.1:\d+$/)
    expect((await fetch(`http://${health}/health/live`)).status).toBe(200)
    expect(await ready()).toMatchObject({ status: 200, store: { status: 'up' } })
  })

  it("is not ready while the store's Redis is down, and ready again when it is back", async () => {
    await redis.kill()
    await eventually(async () => {
      const r = await ready()
      expect(r.status).toBe(503)
      expect(r.store?.status).toBe('down')
    }, 15_000)
    expect((await fetch(`http://${health}/health/live`)).status).toBe(200)
    await redis.start()
    await eventually(async () => expect((await ready()).status).toBe(200), 20_000)
  })
})
