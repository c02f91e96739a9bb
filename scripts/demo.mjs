#!/usr/bin/env node
// `pnpm demo`: the greeter demo. On the default mDNS registry it runs inside a private network
// namespace (multicast must never reach a real interface); with another registry
// (MICRO_REGISTRY=etcd, ...) it runs as is, so it can reach that registry's server.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const demo = fileURLToPath(new URL('../examples/greeter/dist/demo.js', import.meta.url))
const registry = process.env.MICRO_REGISTRY ?? 'mdns'
const cmd =
  registry === 'mdns'
    ? [process.execPath, fileURLToPath(new URL('./netns.mjs', import.meta.url)), process.execPath, demo]
    : [process.execPath, demo]
const r = spawnSync(cmd[0], cmd.slice(1), { stdio: 'inherit' })
process.exit(r.status ?? 1)
