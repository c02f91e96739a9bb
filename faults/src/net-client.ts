/**
 * The client side of the network scenarios, run inside the client namespace: closed-loop
 * callers of `Work.Do` at one address, caller i with deadline `timeouts[i % n]`, until SIGTERM;
 * then the calls in flight finish, and it exits. It prints `ready` once a first call went through. Each call is one JSON line on stdout:
 * `{"s":start,"e":end,"t":timeout,"ok":true}` or with `"c":code,"d":detail` (epoch ms).
 *
 *   node net-client.js '{"address":"10.77.0.2:4000","transport":"tcp","callers":8,"timeouts":[50,1000]}'
 */
import { createService, MicroError, silentLogger } from '@micro-ts/core'
import grpcTransport from '@micro-ts/transport-grpc'

interface Plan {
  address: string
  transport: string
  callers: number
  timeouts: number[]
}

const plan = JSON.parse(process.argv[2] ?? '{}') as Plan
const now = () => performance.timeOrigin + performance.now()

const service = await createService({
  name: 'faults.net-client',
  logger: silentLogger,
  plugins: [grpcTransport],
  env: {
    MICRO_REGISTRY: 'memory',
    MICRO_BROKER: 'memory',
    MICRO_STORE: 'memory',
    MICRO_TRANSPORT: plan.transport,
  },
})

// Ready once a call went through: the phases start from a working link.
for (;;) {
  try {
    await service.client.call('faults-net', 'Work.Do', { ms: 0 }, { address: plan.address, timeout: 5000 })
    break
  } catch {
    await new Promise((r) => setTimeout(r, 100))
  }
}
process.stdout.write('ready\n')

let stopping = false
process.once('SIGTERM', () => {
  stopping = true
})

const out: string[] = []
const flush = () => {
  if (out.length > 0) process.stdout.write(`${out.splice(0).join('\n')}\n`)
}
const flusher = setInterval(flush, 100)

await Promise.all(
  Array.from({ length: plan.callers }, async (_, i) => {
    const timeout = plan.timeouts[i % plan.timeouts.length]
    while (!stopping) {
      const s = now()
      try {
        // Direct to the address: no registry in the namespace, and no retry to blur the deadline.
        await service.client.call(
          'faults-net',
          'Work.Do',
          { ms: 0 },
          { address: plan.address, timeout, retries: 0 },
        )
        out.push(JSON.stringify({ s, e: now(), t: timeout, ok: true }))
      } catch (err) {
        const e = err instanceof MicroError ? err : MicroError.from(err, 'faults')
        out.push(JSON.stringify({ s, e: now(), t: timeout, ok: false, c: e.code, d: e.detail }))
        // A refused connection answers at once: do not spin.
        if (e.code !== 408) await new Promise((r) => setTimeout(r, 10))
      }
    }
  }),
)
clearInterval(flusher)
flush()
process.stdout.write('done\n', () => process.exit(0))
