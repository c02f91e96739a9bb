/**
 * go-micro's order for deploy-time settings: the environment wins over values in code, code over
 * the defaults; component instances given in code stay whatever the environment says.
 */
import { freePort, recordingLogger } from '@micro-ts/conformance/testing'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createMemoryRegistry,
  createSelector,
  createService,
  type HandlerContext,
  type MicroService,
  type Registry,
} from '../src/index.js'

const open: MicroService[] = []
afterEach(async () => {
  for (const s of open.splice(0).reverse()) await s.stop()
})

/** The memory registry, remembering the TTL of every registration. */
function ttlRecording(registry: Registry, ttls: (number | undefined)[]): Registry {
  return {
    name: registry.name,
    register: (s, o) => {
      ttls.push(o?.ttl)
      return registry.register(s, o)
    },
    deregister: (s) => registry.deregister(s),
    getService: (n) => registry.getService(n),
    listServices: () => registry.listServices(),
    watch: (o) => registry.watch(o),
    close: () => registry.close(),
  }
}

describe('precedence: environment, then code, then defaults', () => {
  it('MICRO_SERVER_* and MICRO_REGISTER_* win over the values in code, key by key for metadata', async () => {
    const port = await freePort()
    const ttls: (number | undefined)[] = []
    const memory = createMemoryRegistry()
    const lines = recordingLogger()
    const service = await createService({
      name: 'code.name',
      version: '1.0.0',
      id: 'code-id',
      address: '127.0.0.1:0',
      advertise: '10.0.0.1:1',
      metadata: { team: 'code', keep: 'yes' },
      registerTtl: 90_000,
      registerInterval: 30_000,
      registry: ttlRecording(memory, ttls),
      logger: lines,
      env: {
        MICRO_BROKER: 'memory',
        MICRO_SERVER_NAME: 'env.name',
        MICRO_SERVER_VERSION: '2.0.0',
        MICRO_SERVER_ID: 'env-id',
        MICRO_SERVER_ADDRESS: `127.0.0.1:${port}`,
        MICRO_SERVER_ADVERTISE: `127.0.0.1:${port}`,
        MICRO_SERVER_METADATA: 'team=env',
        MICRO_REGISTER_TTL: '7',
      },
    })
    open.push(service)
    service.handle({ Hello: async () => ({}) }, { name: 'Greeter' })
    await service.start()
    expect(service.name).toBe('env.name')
    expect(service.server.version).toBe('2.0.0')
    expect(service.server.address).toBe(`127.0.0.1:${port}`)
    const [record] = await memory.getService('env.name')
    expect(record.version).toBe('2.0.0')
    expect(record.nodes[0].id).toBe('env.name-env-id')
    expect(record.nodes[0].address).toBe(`127.0.0.1:${port}`)
    expect(record.metadata).toEqual({ team: 'env', keep: 'yes' })
    expect(ttls[0]).toBe(7_000)
    await expect(memory.getService('code.name')).rejects.toMatchObject({ code: 404 })

    // Each value's source is logged at debug.
    const line = lines.lines.find((l) => l.level === 'debug' && 'settings' in l.fields)
    const settings = line?.fields.settings as Record<string, { value: unknown; source: string }>
    expect(settings.name).toEqual({ value: 'env.name', source: 'MICRO_SERVER_NAME' })
    expect(settings.registerInterval).toEqual({ value: 30_000, source: 'code' })
    expect(settings.registerTtl).toEqual({ value: 7_000, source: 'MICRO_REGISTER_TTL' })
    expect(settings.selector).toEqual({ value: 'random', source: 'default' })
  })

  it('MICRO_CLIENT_REQUEST_TIMEOUT and MICRO_CLIENT_RETRIES win over client options in code', async () => {
    const registry = createMemoryRegistry()
    const server = await createService({
      name: 'deadline',
      address: '127.0.0.1:0',
      registry,
      logger: recordingLogger(),
      env: { MICRO_BROKER: 'memory' },
    })
    open.push(server)
    server.handle(
      { Timeout: async (_req: unknown, ctx: HandlerContext) => ({ timeout: ctx.headers.timeout }) },
      { name: 'Probe' },
    )
    await server.start()
    const attempts: string[] = []
    const client = await createService({
      name: 'deadline.client',
      registry,
      logger: recordingLogger(),
      client: { timeout: 30_000, retries: 0 },
      wrappers: {
        call: [
          (next) => (node, req, opts) => {
            attempts.push(node.address)
            return next(node, req, opts)
          },
        ],
      },
      env: { MICRO_BROKER: 'memory', MICRO_CLIENT_REQUEST_TIMEOUT: '4s', MICRO_CLIENT_RETRIES: '2' },
    })
    open.push(client)
    // The deadline the server was sent is 4 s (in ns), not the 30 s given in code.
    const { timeout } = await client.client.call<{ timeout: string }>('deadline', 'Probe.Timeout', {})
    expect(Number(timeout)).toBeGreaterThan(3e9)
    expect(Number(timeout)).toBeLessThanOrEqual(4e9)
    // Two retries (three attempts) on connection failure, not the 0 given in code.
    const dead = `127.0.0.1:${await freePort()}`
    attempts.length = 0
    await expect(
      client.client.call('deadline', 'Probe.Timeout', {}, { address: [dead], backoff: () => 0 }),
    ).rejects.toMatchObject({ code: expect.any(Number) })
    expect(attempts).toEqual([dead, dead, dead])
  })

  it('MICRO_SELECTOR and MICRO_LOG_LEVEL win over names in code; instances in code stay', async () => {
    const registry = createMemoryRegistry()
    const byName = await createService({
      name: 'sel',
      registry,
      selector: 'random',
      logLevel: 'warn',
      env: { MICRO_BROKER: 'memory', MICRO_SELECTOR: 'roundrobin', MICRO_LOG_LEVEL: 'debug' },
    })
    open.push(byName)
    expect(byName.selector.name).toBe('roundrobin')
    expect((byName.logger as unknown as { level: string }).level).toBe('debug')

    const selector = createSelector({ registry, strategy: 'random' })
    const lines = recordingLogger()
    const other = createMemoryRegistry()
    const instances = await createService({
      name: 'sel2',
      registry: other,
      selector,
      logger: lines,
      env: {
        MICRO_BROKER: 'memory',
        MICRO_SELECTOR: 'roundrobin',
        MICRO_REGISTRY: 'mdns',
        MICRO_LOG_LEVEL: 'error',
      },
    })
    open.push(instances)
    expect(instances.selector).toBe(selector)
    expect(instances.registry).toBe(other)
    expect(instances.logger).toBe(lines)
    // The operator learns that the variable did nothing.
    expect(lines.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        fields: expect.objectContaining({ variable: 'MICRO_REGISTRY' }),
      }),
    )
    await selector.close()
  })
})
