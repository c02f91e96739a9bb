/**
 * The gateway in front of our greeter: `@micro-ts/gateway` with our client (http transport,
 * selector over a memory registry seeded with the greeter's record), listening on 127.0.0.1.
 */
import {
  createLogger,
  createMemoryBroker,
  createMemoryRegistry,
  createMemoryStore,
  createService,
  loadPlugin,
} from '@micro-ts/core'
import { createGateway } from '@micro-ts/gateway'
import type { BenchServer, ServerConfig } from './types.js'

export async function start(config: ServerConfig): Promise<BenchServer> {
  if (!config.service) throw new Error('gateway: the greeter record is missing')
  const logger = createLogger('warn')
  const registry = createMemoryRegistry({ services: [config.service] })
  const transport = await loadPlugin('transport', 'http', { logger })
  const service = await createService({
    name: 'bench.gateway',
    registry,
    broker: createMemoryBroker(),
    transport,
    store: createMemoryStore(),
    logger,
  })
  const gateway = createGateway({ registry, client: service.client, logger })
  const address = await gateway.listen('127.0.0.1:0')
  return {
    info: { address },
    async close() {
      await gateway.close()
      await service.stop()
      await transport.close()
    },
  }
}
