/**
 * A registry lookup process: `node dist/registry-driver.js KIND CONFIG_JSON`, KIND `ours` (our
 * etcd registry's getService) or `raw-etcd3` (the etcd3 client reading the prefix and parsing
 * each record: the floor, no merge). It prints `{ready: true}`, then serves the line protocol:
 * `seed {nodes}` (writes that many one-node records of its own service, as that many processes
 * would), `run {durationMs}` → `{lookups, elapsedMs, nodes, maxDelayMs}`, `exit` (removes them).
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { createEtcdRegistry, nodeKey, servicePrefix } from '@micro-ts/registry-etcd'
import { Etcd3 } from 'etcd3'
import { configArg, die, send, serveCommands } from './protocol.js'
import type { RegistryConfig } from './registry.js'

const KINDS = ['ours', 'raw-etcd3'] as const

/** A go-micro record of one node, as a service's registration writes it. */
function record(service: string, i: number): string {
  return JSON.stringify({
    name: service,
    version: '1.0.0',
    metadata: { team: 'bench' },
    endpoints: [
      {
        name: 'Greeter.Hello',
        request: { name: 'Request', type: 'Request' },
        response: null,
        metadata: null,
      },
    ],
    nodes: [
      {
        id: `${service}-${i}`,
        address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`,
        metadata: { protocol: 'mucp' },
      },
    ],
  })
}

async function main() {
  const kind = process.argv[2] as (typeof KINDS)[number]
  if (!KINDS.includes(kind)) throw new Error(`unknown registry driver ${kind}; one of ${KINDS.join(', ')}`)
  const config = configArg<RegistryConfig>()
  const raw = new Etcd3({ hosts: config.etcd })
  const registry = createEtcdRegistry({ addresses: [config.etcd], requestTimeout: 60_000 })
  const service = config.service
  const lookup =
    kind === 'ours'
      ? async () => (await registry.getService(service)).reduce((n, s) => n + s.nodes.length, 0)
      : async () => {
          const values = await raw.getAll().prefix(servicePrefix(service)).strings()
          let nodes = 0
          for (const v of Object.values(values)) nodes += (JSON.parse(v) as { nodes: unknown[] }).nodes.length
          return nodes
        }
  let seeded = 0
  const clear = () => raw.delete().prefix(servicePrefix(service)).exec()
  serveCommands(
    {
      async seed(c) {
        const nodes = Number(c.nodes)
        await clear()
        // Transactions of 100 puts: etcd takes at most 128 operations in one.
        for (let i = 0; i < nodes; i += 100) {
          const success = []
          for (let j = i; j < Math.min(nodes, i + 100); j++) {
            success.push({
              request_put: {
                key: Buffer.from(nodeKey(service, `${service}-${j}`)),
                value: Buffer.from(record(service, j)),
              },
            })
          }
          await raw.kv.txn({ success })
        }
        seeded = nodes
        return { ok: true }
      },
      async run(c) {
        const durationMs = Number(c.durationMs)
        const delay = monitorEventLoopDelay({ resolution: 10 })
        delay.enable()
        const start = performance.now()
        let lookups = 0
        let nodes = 0
        // At least one lookup per round, however long one takes.
        do {
          nodes = await lookup()
          lookups++
          if (nodes !== seeded) throw new Error(`a lookup found ${nodes} nodes, ${seeded} were registered`)
        } while (performance.now() - start < durationMs)
        const elapsedMs = performance.now() - start
        delay.disable()
        return { lookups, elapsedMs, nodes, maxDelayMs: delay.max / 1e6 }
      },
    },
    async () => {
      await clear().catch(() => {})
      await registry.close()
      raw.close()
    },
  )
  send({ ready: true })
}

main().catch(die)
