/**
 * A server process under load: `node dist/server.js KIND CONFIG_JSON`, KIND one of the modules
 * in servers/. It prints `{ready: true, address, ...}` once serving, answers `mem {gc}` with its
 * memory use (after a full GC when started with --expose-gc), and stops on `exit` or when stdin
 * closes.
 */
import { configArg, die, send, serveCommands } from './protocol.js'
import type { BenchServer, ServerConfig } from './servers/types.js'

const KINDS = ['ours', 'raw-http', 'raw-net', 'moleculer', 'gateway', 'bare-proxy'] as const

async function main() {
  const kind = process.argv[2] as (typeof KINDS)[number]
  if (!KINDS.includes(kind)) throw new Error(`unknown server ${kind}; one of ${KINDS.join(', ')}`)
  const config = configArg<ServerConfig>()
  const mod = (await import(`./servers/${kind}.js`)) as { start(c: ServerConfig): Promise<BenchServer> }
  const server = await mod.start(config)
  serveCommands(
    {
      mem(c) {
        const gc = (globalThis as { gc?: () => void }).gc
        if (c.gc && gc) gc()
        const m = process.memoryUsage()
        return { rss: m.rss, heapUsed: m.heapUsed, gc: Boolean(c.gc && gc) }
      },
    },
    () => server.close(),
  )
  send({ ready: true, ...server.info })
}

main().catch(die)
