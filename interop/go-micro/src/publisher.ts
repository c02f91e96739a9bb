/**
 * The TypeScript twin of bin/publisher: publishes N JSON messages to TOPIC with
 * @micro-ts/core's client.publish, then prints {"published":N}.
 *
 *   node dist/publisher.js [--n 1] [--body '{"n":{{i}},"from":"ts"}'] [-H k=v]… TOPIC
 *
 * `-H` adds a message header (go-micro's publisher sends its context metadata the same way).
 */
import { parseArgs } from 'node:util'
import { createService } from '@micro-ts/core'
import { errorJSON, printJSON, usage } from './util.js'

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    n: { type: 'string', default: '1' },
    body: { type: 'string', default: '{"n":{{i}},"from":"ts"}' },
    header: { type: 'string', short: 'H', multiple: true, default: [] },
  },
})
if (positionals.length !== 1) usage('usage: publisher [flags] TOPIC')
const topic = positionals[0]
const n = Number(flags.n)
const headers = Object.fromEntries(
  flags.header.map((kv) => [kv.split('=')[0], kv.split('=').slice(1).join('=')]),
)

const service = await createService({ name: 'interop.ts.publisher' })
let code = 0
try {
  for (let i = 1; i <= n; i++) {
    await service.client.publish(topic, JSON.parse(flags.body.replaceAll('{{i}}', String(i))), { headers })
  }
  printJSON({ published: n })
} catch (e) {
  printJSON(errorJSON(e))
  code = 1
}
await service.stop()
process.exit(code)
