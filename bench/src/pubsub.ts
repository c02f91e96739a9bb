/**
 * A pub/sub process: `node dist/pubsub.js publisher|subscriber KIND CONFIG_JSON`, KIND one of
 * the modules in pubsub/.
 *
 * Flow control keeps the comparison about throughput rather than about who overflows NATS first:
 * the subscriber reports `{event: 'progress', received}` every CREDIT messages, the orchestrator
 * forwards it to the publisher as a `credit` notification, and the publisher never has more than
 * `window` messages published but not yet received.
 *
 * Every contender publishes one message at a time and awaits it, as a handler publishing an event
 * would. With nats.js (used by ours, raw-nats and Moleculer alike) that means one socket write per
 * message: the client flushes its buffer on the next microtask. A contender must not batch
 * differently (say, defer its flush to setImmediate): the write per message is most of the
 * publisher's CPU, so that would measure the batching rather than the stack.
 *
 * Subscriber commands: `reset`, `wait {count, timeoutMs}` → `{received, lastAt}`.
 * Publisher commands: `run {payload, durationMs, window}` → `{published, startAt, elapsedMs}`,
 * `credit {received}` (notification). Times are epoch milliseconds with sub-ms precision, so
 * they compare across the two processes.
 */
import { performance } from 'node:perf_hooks'
import { bigBody, GREETER_REQUEST, type PayloadKind } from './payloads.js'
import { configArg, die, send, serveCommands } from './protocol.js'
import type { PubSubConfig, PubSubModule } from './pubsub/types.js'

const CREDIT = 128
const KINDS = ['ours', 'ours-broker', 'raw-nats', 'raw-envelope', 'moleculer'] as const

const now = () => performance.timeOrigin + performance.now()

async function main() {
  const role = process.argv[2]
  const kind = process.argv[3] as (typeof KINDS)[number]
  if (!KINDS.includes(kind)) throw new Error(`unknown pub/sub kind ${kind}; one of ${KINDS.join(', ')}`)
  process.argv.splice(2, 1) // configArg() reads argv[3]
  const config = configArg<PubSubConfig>()
  const mod = (await import(`./pubsub/${kind}.js`)) as PubSubModule
  if (role === 'subscriber') await subscriberMain(mod, config)
  else if (role === 'publisher') await publisherMain(mod, config)
  else throw new Error(`role must be publisher or subscriber, got ${role}`)
}

async function subscriberMain(mod: PubSubModule, config: PubSubConfig) {
  const bigItems = bigBody().items.length
  let received = 0
  let bad = 0
  let lastAt = 0
  let waiter: { count: number; resolve(): void } | undefined
  const sub = await mod.subscriber(config, (message) => {
    const m = message as { name?: string; items?: unknown[] } | undefined
    if (m?.name !== GREETER_REQUEST.name && m?.items?.length !== bigItems) bad++
    received++
    lastAt = now()
    if (received % CREDIT === 0) send({ event: 'progress', received })
    if (waiter && received >= waiter.count) waiter.resolve()
  })
  serveCommands(
    {
      reset() {
        received = 0
        bad = 0
        return { ok: true }
      },
      async wait(c) {
        const count = Number(c.count)
        if (received < count) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Number(c.timeoutMs ?? 10_000))
            waiter = {
              count,
              resolve: () => {
                clearTimeout(timer)
                resolve()
              },
            }
          })
          waiter = undefined
        }
        return { received, lastAt, bad }
      },
    },
    () => sub.close(),
  )
  send({ ready: true })
}

async function publisherMain(mod: PubSubModule, config: PubSubConfig) {
  const pub = await mod.publisher(config)
  const big = bigBody()
  let credited = 0
  let wake: (() => void) | undefined
  serveCommands(
    {
      credit(c) {
        credited = Math.max(credited, Number(c.received))
        wake?.()
      },
      async run(c) {
        const message = (c.payload as PayloadKind) === 'big' ? big : GREETER_REQUEST
        const window = Number(c.window ?? 1024)
        credited = 0
        let published = 0
        const startAt = now()
        const deadline = performance.now() + Number(c.durationMs ?? 1000)
        while (performance.now() < deadline) {
          if (published - credited >= window) {
            // Credits may stop if the broker drops messages: look at the clock now and then.
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, 200)
              wake = () => {
                clearTimeout(timer)
                resolve()
              }
            })
            wake = undefined
            continue
          }
          await pub.publish(message)
          published++
        }
        return { published, startAt, elapsedMs: now() - startAt }
      },
    },
    () => pub.close(),
  )
  send({ ready: true })
}

main().catch(die)
