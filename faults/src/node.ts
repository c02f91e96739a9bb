/**
 * One node of the suite's RPC service, a process of its own so it can be killed: found through
 * the registry named by MICRO_REGISTRY, serving `Work.Do` on the transport MICRO_TRANSPORT names.
 * Prints `ready <address> <id>` once registered, drains and deregisters on SIGTERM, then prints
 * `stopped` and exits 0.
 */

import natsBroker from '@micro-ts/broker-nats'
import { createService, type HandlerContext } from '@micro-ts/core'
import etcdRegistry from '@micro-ts/registry-etcd'
import grpcTransport from '@micro-ts/transport-grpc'

const nodeName = process.env.FAULTS_NODE ?? 'node'

const service = await createService({
  name: process.env.MICRO_SERVER_NAME ?? 'faults',
  address: '127.0.0.1:0',
  plugins: [etcdRegistry, grpcTransport, natsBroker],
  env: { MICRO_BROKER: 'memory', MICRO_STORE: 'memory', ...process.env },
})

service.handle(
  {
    /** Answers after `ms` (cut short when the caller's deadline passes). */
    async Do(req: { ms?: number }, ctx: HandlerContext) {
      const ms = Math.max(0, Math.min(req?.ms ?? 0, 60_000))
      if (ms > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ms)
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(timer)
            resolve()
          })
        })
      }
      return { node: nodeName }
    },
  },
  { name: 'Work' },
)

await service.start()
process.stdout.write(`ready ${service.server.address} ${service.server.id}\n`)

process.once('SIGTERM', () => {
  service.stop().then(
    () => {
      process.stdout.write('stopped\n')
      process.exit(0)
    },
    (err: unknown) => {
      process.stderr.write(`stop failed: ${(err as Error)?.message}\n`)
      process.exit(1)
    },
  )
})
