/**
 * Our greeter service as a user writes it: createService() with a class-less handler object
 * served as `Greeter.Hello` / `Greeter.Echo` on the named transport, bound to 127.0.0.1. It
 * registers in an in-process memory registry; its record goes to the client in the ready line.
 */
import {
  createLogger,
  createMemoryBroker,
  createMemoryRegistry,
  createMemoryStore,
  createService,
  loadPlugin,
} from '@micro-ts/core'
import { type Big, echo, type HelloRequest, hello } from '../payloads.js'
import { benchTelemetry } from '../telemetry.js'
import type { BenchServer, ServerConfig } from './types.js'

export const SERVICE_NAME = 'bench.greeter'

export async function start(config: ServerConfig): Promise<BenchServer> {
  const logger = createLogger('warn')
  // Imported only for the start-up rows: etcd3 and its gRPC stack would weigh on the memory rows.
  const registry = config.etcd
    ? (await import('@micro-ts/registry-etcd')).createEtcdRegistry({ addresses: [config.etcd], logger })
    : createMemoryRegistry()
  const transport = await loadPlugin('transport', config.transport ?? 'http', { logger })
  const observed = await benchTelemetry(config.telemetry, config.otlpUrl, config.name ?? SERVICE_NAME)
  const service = await createService({
    telemetry: observed.options,
    name: config.name ?? SERVICE_NAME,
    version: '1.0.0',
    address: '127.0.0.1:0',
    registry,
    broker: createMemoryBroker(),
    transport,
    store: createMemoryStore(),
    logger,
  })
  service.handle(
    {
      async Hello(req: HelloRequest) {
        return hello(req)
      },
      async Echo(req: Big) {
        return echo(req)
      },
    },
    { name: 'Greeter' },
  )
  await service.start()
  const [record] = await registry.getService(config.name ?? SERVICE_NAME)
  return {
    info: { address: service.server.address, service: record },
    async close() {
      await service.stop()
      await transport.close()
      await registry.close()
      await observed.close()
    },
  }
}
