/**
 * The TypeScript twin of bin/registry-dump: prints what @micro-ts/core's registry
 * (MICRO_REGISTRY) holds, as go-micro's JSON.
 *
 *   node dist/registry-dump.js [--wait 5s] [--nodes 1] SERVICE | --list | --watch [SERVICE]
 */

import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { createService, parseDuration, type Service } from '@micro-ts/core'
import { errorJSON, printJSON, usage } from './util.js'

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    wait: { type: 'string', default: '0s' },
    nodes: { type: 'string', default: '1' },
    list: { type: 'boolean', default: false },
    watch: { type: 'boolean', default: false },
  },
})

const service = await createService({ name: 'interop.ts.registry-dump' })
const registry = service.registry

if (flags.watch) {
  const watcher = registry.watch(positionals[0] ? { service: positionals[0] } : {})
  printJSON({ ready: true })
  process.once('SIGTERM', () => watcher.stop())
  for await (const event of watcher) printJSON(event)
} else if (flags.list) {
  printJSON(await registry.listServices())
} else {
  if (positionals.length !== 1) usage('usage: registry-dump [--wait d] SERVICE | --list | --watch [SERVICE]')
  const deadline = Date.now() + parseDuration(flags.wait)
  const want = Number(flags.nodes)
  for (;;) {
    let found: Service[] = []
    let err: unknown
    try {
      found = await registry.getService(positionals[0])
    } catch (e) {
      err = e
    }
    if (found.reduce((n, s) => n + s.nodes.length, 0) >= want) {
      printJSON(found)
      break
    }
    if (Date.now() > deadline) {
      process.stderr.write(
        `service ${positionals[0]}: ${JSON.stringify(err ? errorJSON(err) : { nodes: found })}\n`,
      )
      await service.stop()
      process.exit(1)
    }
    await sleep(200)
  }
}
await service.stop()
process.exit(0)
