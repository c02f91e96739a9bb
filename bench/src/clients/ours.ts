/**
 * Our client as a user runs it: createService() with a memory registry seeded with the server's
 * own record, so every call goes through the selector (registry cache, random strategy), the
 * JSON codec and the named transport. `viaAddress` passes `address`, bypassing the selector.
 */
import {
  createLogger,
  createMemoryBroker,
  createMemoryRegistry,
  createMemoryStore,
  createService,
  loadPlugin,
} from '@micro-ts/core'
import { bigBody, checkResponse, GREETER_REQUEST, type PayloadKind } from '../payloads.js'
import { benchTelemetry } from '../telemetry.js'
import type { BenchClient, DriverConfig } from './types.js'

export async function create(config: DriverConfig): Promise<BenchClient> {
  if (!config.service) throw new Error('ours: the server record is missing')
  const logger = createLogger('warn')
  const registry = createMemoryRegistry({ services: [config.service] })
  const transport = await loadPlugin('transport', config.transport ?? 'http', {
    logger,
    sharedOptions: config.connections ? { poolSize: config.connections } : undefined,
  })
  const observed = await benchTelemetry(config.telemetry, config.otlpUrl, 'bench.client')
  const service = await createService({
    telemetry: observed.options,
    name: 'bench.client',
    registry,
    broker: createMemoryBroker(),
    transport,
    store: createMemoryStore(),
    logger,
  })
  const name = config.service.name
  const big = bigBody()
  const selected = config.timeout ? { timeout: config.timeout } : undefined
  const direct = { address: config.address, timeout: config.timeout }
  return {
    async call(kind: PayloadKind, viaAddress?: boolean) {
      const rsp =
        kind === 'greeter'
          ? await service.client.call(name, 'Greeter.Hello', GREETER_REQUEST, viaAddress ? direct : selected)
          : await service.client.call(name, 'Greeter.Echo', big, viaAddress ? direct : selected)
      checkResponse(kind, rsp, big.items.length)
    },
    async close() {
      await service.stop()
      await transport.close()
      await registry.close()
      await observed.close()
    },
  }
}
