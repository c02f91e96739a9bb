/**
 * One node of the balancing benchmarks: `node dist/balance-node.js - CONFIG_JSON` with
 * `{transport, delayMs, fail}`. Our service answers `Work.Do` after `delayMs` (the slow node),
 * or with a 503 for every call (the failing node); it registers in an in-process memory
 * registry and hands its record to the orchestrator in the ready line.
 */
import {
  createLogger,
  createMemoryBroker,
  createMemoryRegistry,
  createMemoryStore,
  createService,
  errors,
  loadPlugin,
} from '@micro-ts/core'
import { configArg, die, send, serveCommands } from './protocol.js'

export const BALANCE_SERVICE = 'bench.balance'

interface NodeConfig {
  transport?: string
  delayMs?: number
  fail?: boolean
}

async function main() {
  const config = configArg<NodeConfig>()
  const logger = createLogger('warn')
  const registry = createMemoryRegistry()
  const transport = await loadPlugin('transport', config.transport ?? 'http', { logger })
  const service = await createService({
    name: BALANCE_SERVICE,
    address: '127.0.0.1:0',
    registry,
    broker: createMemoryBroker(),
    transport,
    store: createMemoryStore(),
    logger,
  })
  const delay = Math.max(0, config.delayMs ?? 0)
  let served = 0
  service.handle(
    {
      async Do() {
        served++
        if (config.fail) throw errors.serviceUnavailable('bench.balance', 'this node fails every call')
        if (delay > 0) await new Promise((r) => setTimeout(r, delay))
        return { ok: true }
      },
    },
    { name: 'Work' },
  )
  await service.start()
  const [record] = await registry.getService(BALANCE_SERVICE)
  serveCommands(
    {
      served: () => ({ served }),
      reset() {
        served = 0
        return { ok: true }
      },
    },
    async () => {
      await service.stop()
      await transport.close()
    },
  )
  send({ ready: true, address: service.server.address, service: record })
}

main().catch(die)
