/**
 * MICRO_CLIENT_POOL_SIZE is go-micro's client pool size: connections kept per node. It reaches
 * whichever transport declares a `poolSize` option, and a transport without one starts as well.
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  createHttpTransport,
  createMemoryRegistry,
  createService,
  definePlugin,
  type HandlerContext,
  type MicroService,
  type ServiceOptions,
  silentLogger,
} from '../src/index.js'

const open: MicroService[] = []
afterEach(async () => {
  for (const s of open.splice(0).reverse()) await s.stop()
})

/** A server and a client on `env`; the server reports the remote address of each call. */
async function pair(env: Record<string, string>, plugins?: ServiceOptions['plugins']) {
  const registry = createMemoryRegistry()
  const base = { registry, logger: silentLogger, plugins }
  const server = await createService({
    ...base,
    name: 'pool',
    env: { MICRO_BROKER: 'memory', MICRO_SERVER_ADDRESS: '127.0.0.1:0', ...env },
  })
  open.push(server)
  server.handle(
    { Remote: async (_req: unknown, ctx: HandlerContext) => ({ remote: ctx.remote }) },
    { name: 'Pool' },
  )
  await server.start()
  const client = await createService({
    ...base,
    name: 'pool.client',
    env: { MICRO_BROKER: 'memory', ...env },
  })
  open.push(client)
  return client
}

/** How many client connections `calls` sequential calls went over. */
async function connectionsUsed(client: MicroService, calls: number): Promise<number> {
  const remotes = new Set<string>()
  for (let i = 0; i < calls; i++) {
    const rsp = await client.client.call<{ remote: string }>('pool', 'Pool.Remote', {})
    remotes.add(rsp.remote)
  }
  return remotes.size
}

describe('MICRO_CLIENT_POOL_SIZE', () => {
  it("with MICRO_TRANSPORT=tcp it sets tcp's poolSize (connections per node, default 1)", async () => {
    const one = await pair({ MICRO_TRANSPORT: 'tcp' })
    expect(one.transport.name).toBe('tcp')
    expect(await connectionsUsed(one, 6)).toBe(1)
    // tcp spreads calls over its connections in turn: 6 calls use all 3.
    const three = await pair({ MICRO_TRANSPORT: 'tcp', MICRO_CLIENT_POOL_SIZE: '3' })
    expect(await connectionsUsed(three, 6)).toBe(3)
  })

  it("the transport's own variable wins over the shared one", async () => {
    const client = await pair({
      MICRO_TRANSPORT: 'tcp',
      MICRO_CLIENT_POOL_SIZE: '3',
      MICRO_TRANSPORT_TCP_POOL_SIZE: '2',
    })
    expect(await connectionsUsed(client, 6)).toBe(2)
  })

  it('a transport that declares no poolSize starts fine and serves', async () => {
    const bare = definePlugin({ kind: 'transport', name: 'bare', create: () => createHttpTransport() })
    const client = await pair({ MICRO_TRANSPORT: 'bare', MICRO_CLIENT_POOL_SIZE: '10' }, [bare])
    expect(client.transport.name).toBe('http')
    expect(await connectionsUsed(client, 2)).toBeGreaterThanOrEqual(1)
    // The same from code.
    const fromCode = await createService({
      name: 'pool.code',
      registry: createMemoryRegistry(),
      logger: silentLogger,
      plugins: [bare],
      client: { poolSize: 10 },
      env: { MICRO_BROKER: 'memory', MICRO_TRANSPORT: 'bare' },
    })
    open.push(fromCode)
    expect(fromCode.transport.name).toBe('http')
  })
})
