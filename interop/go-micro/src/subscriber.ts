/**
 * The TypeScript twin of bin/subscriber: a service subscribed to TOPIC (optionally in a queue
 * group) that prints {"topic","header","body"} per message, after {"ready":true}.
 *
 *   node dist/subscriber.js [--queue q] [--name interop.ts.subscriber] TOPIC
 */
import { parseArgs } from 'node:util'
import { createService } from '@micro-ts/core'
import { printJSON, untilSignal, usage } from './util.js'

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    queue: { type: 'string' },
    name: { type: 'string', default: 'interop.ts.subscriber' },
  },
})
if (positionals.length !== 1) usage('usage: subscriber [flags] TOPIC')
const topic = positionals[0]

const service = await createService({ name: flags.name })
service.subscribe(topic, (body, ctx) => printJSON({ topic, header: ctx.headers, body }), {
  queue: flags.queue,
})
await service.start()
printJSON({ ready: true })
await untilSignal()
await service.stop()
