import {
  createMemoryRegistry,
  createService,
  type MicroService,
  type Registry,
  type ServiceOptions,
  silentLogger,
} from '../src/index.js'

/** A started service on loopback with the memory broker/store; only TCP on 127.0.0.1 is used. */
export async function startService(registry: Registry, options: ServiceOptions = {}): Promise<MicroService> {
  const service = await createService({
    address: '127.0.0.1:0',
    registry,
    logger: silentLogger,
    env: { MICRO_BROKER: 'memory', MICRO_STORE: 'memory' },
    ...options,
  })
  await service.start()
  return service
}

/** A client-only service (not started). */
export function clientService(registry: Registry, options: ServiceOptions = {}): Promise<MicroService> {
  return createService({
    name: 'test.client',
    registry,
    logger: silentLogger,
    env: { MICRO_BROKER: 'memory', MICRO_STORE: 'memory' },
    ...options,
  })
}

export { createMemoryRegistry }
