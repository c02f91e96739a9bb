/**
 * The TypeScript twin of bin/subscriber: a service subscribed to TOPIC (optionally in a queue
 * group) that prints {"topic","header","body"} per message, after {"ready":true}.
 *
 *   node dist/subscriber.js [--queue q] [--name interop.ts.subscriber] [--broker-option k=v]… TOPIC
 *
 * `--broker-option` passes a plugin option to the broker named by MICRO_BROKER (not the http
 * broker, which needs the service's registry), e.g. `durableQueues=false` for rabbitmq.
 */
import { parseArgs } from 'node:util'
import { type Broker, createService, loadPlugin, readEnv } from '@micro-ts/core'
import { printJSON, untilSignal, usage } from './util.js'

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    queue: { type: 'string' },
    name: { type: 'string', default: 'interop.ts.subscriber' },
    'broker-option': { type: 'string', multiple: true, default: [] },
  },
})
if (positionals.length !== 1) usage('usage: subscriber [flags] TOPIC')
const topic = positionals[0]

let broker: Broker | undefined
if (flags['broker-option'].length > 0) {
  const options: Record<string, string> = {}
  for (const pair of flags['broker-option']) {
    const i = pair.indexOf('=')
    if (i <= 0) usage(`--broker-option ${pair}: expected key=value`)
    options[pair.slice(0, i)] = pair.slice(i + 1)
  }
  const env = readEnv()
  if (!env.broker.name || env.broker.name === 'http') usage('--broker-option needs MICRO_BROKER (not http)')
  broker = await loadPlugin('broker', env.broker.name, { addresses: env.broker.addresses, options })
}

const service = await createService({ name: flags.name, broker })
service.subscribe(topic, (body, ctx) => printJSON({ topic, header: ctx.headers, body }), {
  queue: flags.queue,
})
await service.start()
printJSON({ ready: true })
await untilSignal()
await service.stop()
await broker?.disconnect()
