#!/usr/bin/env node
// `pnpm demo`: the greeter demo. On the default mDNS registry it runs inside a private network
// namespace (multicast must never reach a real interface); with another registry
// (MICRO_REGISTRY=etcd, ...) it runs as is, so it can reach that registry's server.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const demo = fileURLToPath(new URL('../examples/greeter/dist/demo.js', import.meta.url))
const registry = process.env.MICRO_REGISTRY ?? 'mdns'
// Brokers and stores other than the embedded ones talk to a server; transports (grpc) do not.
const EMBEDDED = { MICRO_BROKER: ['http', 'memory'], MICRO_STORE: ['memory'] }
const external = Object.entries(EMBEDDED).filter(([k, ok]) => process.env[k] && !ok.includes(process.env[k]))
if (registry === 'mdns' && external.length > 0) {
  const names = external.map(([k]) => `${k}=${process.env[k]}`).join(', ')
  console.error(
    `demo: ${names} needs a server on 127.0.0.1, but on the mDNS registry the demo runs in a private network ` +
      'namespace where such servers are unreachable. Pick a registry with a server too, e.g. MICRO_REGISTRY=etcd.',
  )
  process.exit(2)
}
const cmd =
  registry === 'mdns'
    ? [process.execPath, fileURLToPath(new URL('./netns.mjs', import.meta.url)), process.execPath, demo]
    : [process.execPath, demo]
const r = spawnSync(cmd[0], cmd.slice(1), { stdio: 'inherit' })
process.exit(r.status ?? 1)
