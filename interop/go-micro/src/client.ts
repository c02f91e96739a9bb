/**
 * The TypeScript twin of bin/client: calls SERVICE ENDPOINT with a JSON body through
 * @micro-ts/core's client and prints the JSON response (exit 0) or the error JSON (exit 1).
 *
 *   node dist/client.js [--timeout 200ms] [--retries n] [--address h:p] [--n 1] [-H k=v]... [--timing]
 *                       [--stream [--recv n]] SERVICE ENDPOINT JSON
 *
 * --timing adds a last line {"elapsed_ms":N}: the time the call itself took, without process
 * start-up. With --stream, JSON is an array of messages sent one at a time; after each, --recv
 * responses (default 1) are read and printed (ping-pong, as bin/client does).
 */
import { parseArgs } from 'node:util'
import { type CallOptions, createService, parseDuration } from '@micro-ts/core'
import { errorJSON, printJSON, usage } from './util.js'

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    timeout: { type: 'string' },
    retries: { type: 'string' },
    address: { type: 'string' },
    n: { type: 'string', default: '1' },
    header: { type: 'string', short: 'H', multiple: true, default: [] },
    timing: { type: 'boolean', default: false },
    stream: { type: 'boolean', default: false },
    recv: { type: 'string' },
  },
})
if (positionals.length !== 3) usage('usage: client [flags] SERVICE ENDPOINT JSON')
const [serviceName, endpoint, json] = positionals
let body: unknown
try {
  body = JSON.parse(json)
} catch {
  usage(`request is not valid JSON: ${json}`)
}

const options: CallOptions = {}
if (flags.timeout) options.timeout = parseDuration(flags.timeout)
if (flags.retries) options.retries = Number(flags.retries)
if (flags.address) options.address = flags.address
if (flags.header.length > 0) {
  options.headers = Object.fromEntries(
    flags.header.map((kv) => [kv.split('=')[0], kv.split('=').slice(1).join('=')]),
  )
}

const service = await createService({ name: 'interop.ts.client' })
let code = 0
const started = performance.now()
try {
  if (flags.stream) {
    if (!Array.isArray(body)) usage('--stream needs a JSON array')
    const stream = await service.client.stream(serviceName, endpoint, options)
    const per = Number(flags.recv ?? '1')
    try {
      messages: for (const m of body) {
        await stream.send(m)
        for (let i = 0; i < per; i++) {
          const msg = await stream.recv()
          if (msg === undefined) break messages
          printJSON(msg)
        }
      }
    } finally {
      await stream.close()
    }
  } else {
    for (let i = 0; i < Number(flags.n); i++)
      printJSON(await service.client.call(serviceName, endpoint, body, options))
  }
} catch (e) {
  printJSON(errorJSON(e))
  code = 1
}
if (flags.timing) printJSON({ elapsed_ms: Math.round(performance.now() - started) })
await service.stop()
process.exit(code)
