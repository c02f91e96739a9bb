/**
 * A load-generating client process: `node dist/driver.js KIND CONFIG_JSON`, KIND one of the
 * modules in clients/. It prints `{ready: true}` once connected, then serves the line protocol:
 * `run {payload, concurrency, durationMs | calls, viaAddress}`, `reset`, `stats`, `exit`.
 */
import type { BenchClient, DriverConfig } from './clients/types.js'
import { LatencyLog, runLoad } from './load.js'
import type { PayloadKind } from './payloads.js'
import { configArg, die, send, serveCommands } from './protocol.js'

const KINDS = ['ours', 'raw-http', 'raw-undici', 'raw-net', 'moleculer', 'gateway'] as const

async function main() {
  const kind = process.argv[2] as (typeof KINDS)[number]
  if (!KINDS.includes(kind)) throw new Error(`unknown driver ${kind}; one of ${KINDS.join(', ')}`)
  const config = configArg<DriverConfig>()
  const mod = (await import(`./clients/${kind}.js`)) as { create(c: DriverConfig): Promise<BenchClient> }
  const client = await mod.create(config)
  const log = new LatencyLog()
  serveCommands(
    {
      async run(c) {
        const payload = c.payload as PayloadKind
        const viaAddress = c.viaAddress === true
        return runLoad(
          () => client.call(payload, viaAddress),
          {
            concurrency: Number(c.concurrency ?? 1),
            durationMs: c.durationMs === undefined ? undefined : Number(c.durationMs),
            calls: c.calls === undefined ? undefined : Number(c.calls),
          },
          log,
        )
      },
      reset() {
        log.reset()
        return { ok: true }
      },
      stats: () => log.stats(),
    },
    () => client.close(),
  )
  send({ ready: true })
}

main().catch(die)
