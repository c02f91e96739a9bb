/**
 * The TypeScript twin of bin/greeter (cmd/greeter/main.go): the same endpoints, flags and
 * output, on @micro-ts/core, configured by the same MICRO_* variables.
 *
 *   node dist/greeter.js [--name greeter] [--version 1.0.0] [--topic t [--queue q]]
 */

import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { createService, errors, type HandlerContext, type RpcServerStream } from '@micro-ts/core'
import { printJSON, untilSignal } from './util.js'

const { values: flags } = parseArgs({
  options: {
    name: { type: 'string', default: 'greeter' },
    version: { type: 'string', default: '1.0.0' },
    topic: { type: 'string' },
    queue: { type: 'string' },
  },
})

interface StreamMessage {
  name?: string
  count?: number
}

class Greeter {
  async Hello(req: { name: string }) {
    return { greeting: `Hello ${req.name}` }
  }

  async Fail(req: { name: string }): Promise<never> {
    throw errors.badRequest('greeter.fail', `bad name ${req.name}`)
  }

  /** Sleeps without looking at the deadline, like a careless handler; reports the deadline it was given. */
  async Slow(req: { ms: number }, ctx: HandlerContext) {
    const deadlineMs = ctx.deadline === undefined ? -1 : ctx.deadline - Date.now()
    await sleep(req.ms)
    return { slept_ms: req.ms, deadline_ms: Math.round(deadlineMs) }
  }

  async Stream(stream: RpcServerStream<StreamMessage, { greeting: string }>) {
    for await (const msg of stream) {
      if (msg.count) {
        for (let i = 1; i <= msg.count; i++) await stream.send({ greeting: `Hello ${i}` })
        continue
      }
      if (msg.name === 'fail') throw errors.badRequest('greeter.stream', `bad name ${msg.name}`)
      await stream.send({ greeting: `Hello ${msg.name}` })
    }
  }
}

const service = await createService({ name: flags.name, version: flags.version, metadata: { lang: 'ts' } })
service.handle(new Greeter(), {
  endpoints: {
    Hello: {
      request: { name: 'HelloRequest', type: 'HelloRequest', values: [{ name: 'name', type: 'string' }] },
      response: {
        name: 'HelloResponse',
        type: 'HelloResponse',
        values: [{ name: 'greeting', type: 'string' }],
      },
    },
    Stream: { stream: true },
  },
})
if (flags.topic) {
  const topic = flags.topic
  service.subscribe(topic, (body, ctx) => printJSON({ topic, header: ctx.headers, body }), {
    queue: flags.queue,
  })
}
await service.start()
const node = service.server.describe().nodes[0]
printJSON({ ready: true, id: node.id, address: node.address, version: service.server.version })
await untilSignal()
await service.stop()
