/**
 * Readiness reflects the components (registry, broker, store) with a per-check time limit, and
 * every service answers the health paths whatever its transport.
 */
import { eventually, freePort, recordingLogger } from '@micro-ts/conformance/testing'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createMemoryBroker,
  createMemoryRegistry,
  createMemoryStore,
  createService,
  type HealthReport,
  type MicroService,
  type ServiceOptions,
} from '../src/index.js'

const open: MicroService[] = []
afterEach(async () => {
  for (const s of open.splice(0)) await s.stop()
})

async function started(options: ServiceOptions = {}, env: Record<string, string> = {}) {
  const service = await createService({
    name: 'health',
    address: '127.0.0.1:0',
    registry: createMemoryRegistry(),
    logger: recordingLogger(),
    ...options,
    env: { MICRO_BROKER: 'memory', ...env },
  })
  open.push(service)
  service.handle({ Hello: async () => ({}) }, { name: 'Greeter' })
  await service.start()
  return service
}

async function get(address: string, path: string): Promise<{ status: number; report: HealthReport }> {
  const res = await fetch(`http://${address}${path}`)
  return { status: res.status, report: (await res.json()) as HealthReport }
}

describe('readiness reflects the components', () => {
  it('store down → /health/ready 503 naming the store; live stays 200', async () => {
    const store = createMemoryStore()
    const service = await started({ store })
    const ready = await get(service.server.address, '/health/ready')
    expect(ready.status).toBe(200)
    expect(ready.report.checks.map((c) => c.name).sort()).toEqual(['broker', 'registry', 'server', 'store'])
    await store.close()
    const down = await eventually(async () => {
      const r = await get(service.server.address, '/health/ready')
      expect(r.status).toBe(503)
      return r
    }, 10_000)
    expect(down.report.status).toBe('down')
    expect(down.report.checks.find((c) => c.name === 'store')).toMatchObject({
      status: 'down',
      error: 'store is closed',
    })
    expect((await get(service.server.address, '/health')).status).toBe(503)
    expect((await get(service.server.address, '/health/live')).status).toBe(200)
  })

  it('a broker the service connected and lost → 503; one never connected is not in use', async () => {
    const broker = createMemoryBroker()
    const quiet = await started({ broker })
    expect((await get(quiet.server.address, '/health/ready')).status).toBe(200)

    const busy = createMemoryBroker()
    const service = await createService({
      name: 'health.sub',
      address: '127.0.0.1:0',
      registry: createMemoryRegistry(),
      broker: busy,
      logger: recordingLogger(),
    })
    open.push(service)
    service.subscribe('events', () => {})
    await service.start()
    expect((await get(service.server.address, '/health/ready')).status).toBe(200)
    await busy.disconnect()
    const down = await eventually(async () => {
      const r = await get(service.server.address, '/health/ready')
      expect(r.status).toBe(503)
      return r
    }, 10_000)
    expect(down.report.checks.find((c) => c.name === 'broker')).toMatchObject({
      status: 'down',
      error: expect.stringMatching(/memory broker.*not connected/),
    })
  })

  it('a check that hangs counts as down after its time limit, and is told through its signal', async () => {
    let aborted = false
    const logger = recordingLogger()
    const service = await started({ healthCheckTimeout: 200, logger })
    service.addHealthCheck('database', (signal) => {
      return new Promise<void>((_, reject) => {
        signal.addEventListener('abort', () => {
          aborted = true
          reject(signal.reason)
        })
      })
    })
    const r = await get(service.server.address, '/health/ready')
    expect(r.status).toBe(503)
    expect(r.report.checks.find((c) => c.name === 'database')).toMatchObject({
      status: 'down',
      error: 'timed out after 200ms',
    })
    expect(aborted).toBe(true)
    // The failure is logged once, not on every probe.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    await get(service.server.address, '/health/ready')
    const logged = logger.lines.filter((l) => l.level === 'warn' && l.fields.check === 'database')
    expect(logged).toHaveLength(1)
  })
})

describe('a health endpoint whatever the transport', () => {
  it('with MICRO_TRANSPORT=tcp a listener of its own answers the probes, and says where', async () => {
    const logger = recordingLogger()
    const service = await started({ logger }, { MICRO_TRANSPORT: 'tcp' })
    expect(service.transport.name).toBe('tcp')
    const address = service.server.healthAddress
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(address).not.toBe(service.server.address)
    const ready = await get(address, '/health/ready')
    expect(ready.status).toBe(200)
    expect(ready.report).toMatchObject({ status: 'up', info: { name: 'health' } })
    expect((await get(address, '/health/live')).status).toBe(200)
    expect((await get(address, '/health')).status).toBe(200)
    expect((await fetch(`http://${address}/other`)).status).toBe(404)
    expect((await fetch(`http://${address}/health`, { method: 'POST' })).status).toBe(405)
    expect(logger.lines).toContainEqual(
      expect.objectContaining({ level: 'info', msg: `health endpoints on http://${address}/health` }),
    )
  })

  it('MICRO_HEALTH_ADDRESS picks the address (also beside http); off turns it off', async () => {
    const port = await freePort()

    const http = await started({}, { MICRO_HEALTH_ADDRESS: `127.0.0.1:${port}` })
    expect(http.server.healthAddress).toBe(`127.0.0.1:${port}`)
    expect((await get(`127.0.0.1:${port}`, '/health/ready')).status).toBe(200)
    // The http transport serves the paths on its own port as well.
    expect((await get(http.server.address, '/health/ready')).status).toBe(200)

    const plain = await started()
    expect(plain.server.healthAddress).toBe('')
    const off = await started(
      { healthAddress: ':0' },
      { MICRO_TRANSPORT: 'tcp', MICRO_HEALTH_ADDRESS: 'off' },
    )
    expect(off.server.healthAddress).toBe('')
  })

  it('a bad MICRO_HEALTH_ADDRESS is a start-up error naming the variable', async () => {
    await expect(
      createService({ registry: createMemoryRegistry(), env: { MICRO_HEALTH_ADDRESS: 'nope' } }),
    ).rejects.toThrow(/MICRO_HEALTH_ADDRESS=nope/)
  })
})
