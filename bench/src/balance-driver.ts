/**
 * The client of the balancing benchmarks: `node dist/balance-driver.js - CONFIG_JSON` with the
 * nodes' records, a selector strategy, and whether the retry budget and outlier ejection are on.
 * It calls `Work.Do` (idempotent, one retry) in closed loops on `run`, counting every attempt per
 * node, and reports the calls' latencies and how many failed.
 */
import {
  type CallWrapper,
  createLogger,
  createMemoryRegistry,
  createSelector,
  loadPlugin,
  RpcClient,
  type SelectStrategy,
  type Service,
} from '@micro-ts/core'
import { LatencyLog, runLoad } from './load.js'
import { configArg, die, send, serveCommands } from './protocol.js'

interface DriverConfig {
  transport?: string
  services: Service[]
  strategy: SelectStrategy
  budget: boolean
  ejection: boolean
}

async function main() {
  const config = configArg<DriverConfig>()
  const logger = createLogger('warn')
  const registry = createMemoryRegistry({ services: config.services })
  const transport = await loadPlugin('transport', config.transport ?? 'http', { logger })
  const selector = createSelector({
    registry,
    strategy: config.strategy,
    ejection: config.ejection ? undefined : false,
    logger,
  })
  const attempts = new Map<string, number>()
  const counting: CallWrapper = (next) => (node, req, options) => {
    attempts.set(node.address, (attempts.get(node.address) ?? 0) + 1)
    return next(node, req, options)
  }
  const client = new RpcClient({
    transport,
    selector,
    retries: 1,
    backoff: () => 0,
    retryBudget: config.budget ? undefined : false,
    wrappers: [counting],
    logger,
  })
  const name = config.services[0].name
  const log = new LatencyLog()
  let failed = 0
  serveCommands(
    {
      async run(c) {
        // A failed call is counted here, not thrown: the load loop gives up on a contender that
        // throws too often, and failing is what one of these contenders is measured for.
        // The round's own latencies too: its p99 is paired with the other contenders' rounds.
        const round = new LatencyLog()
        const both = {
          add(ms: number) {
            log.add(ms)
            round.add(ms)
          },
        }
        const result = await runLoad(
          async () => {
            try {
              await client.call(name, 'Work.Do', {}, { idempotent: true })
            } catch {
              failed++
            }
          },
          { concurrency: Number(c.concurrency ?? 1), durationMs: Number(c.durationMs ?? 1000) },
          both,
        )
        return { ...result, p99: round.stats().p99 }
      },
      reset() {
        log.reset()
        attempts.clear()
        failed = 0
        return { ok: true }
      },
      stats: () => ({ ...log.stats(), failed, attempts: Object.fromEntries(attempts) }),
    },
    async () => {
      await selector.close()
      await transport.close()
      await registry.close()
    },
  )
  send({ ready: true })
}

main().catch(die)
