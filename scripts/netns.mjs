#!/usr/bin/env node
// Run a command inside a private network namespace whose only interface is a loopback with
// multicast on, so the mDNS registry (the default) never sends multicast on a real interface.
//   node scripts/netns.mjs <command> [args...]
// Inside, only the namespace's own loopback exists: servers outside it are unreachable.
import { spawnSync } from 'node:child_process'
import os from 'node:os'

const args = process.argv.slice(2)
if (args.length === 0) {
  console.error('usage: node scripts/netns.mjs COMMAND [ARGS...]')
  process.exit(2)
}
// Already isolated (our own namespace, or one a developer made by hand): run as is.
const onlyLoopback = Object.values(os.networkInterfaces()).every((list) =>
  (list ?? []).every((a) => a.internal),
)
if (process.env.MICRO_NETNS === '1' || onlyLoopback) {
  // Already inside one: run as is.
  const r = spawnSync(args[0], args.slice(1), { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}
const flags = process.getuid?.() === 0 ? ['-n'] : ['-r', '-n']
const setup = [
  'set -e',
  'ip link set lo up',
  'ip link set lo multicast on',
  'ip route add 224.0.0.0/4 dev lo 2>/dev/null || true',
  'ip -6 route add ff00::/8 dev lo table local 2>/dev/null || true',
  'exec "$@"',
].join('\n')
const r = spawnSync('unshare', [...flags, '--', 'bash', '-c', setup, 'netns', ...args], {
  stdio: 'inherit',
  env: { ...process.env, MICRO_NETNS: '1' },
})
if (r.error) {
  console.error(`netns: could not create a private network namespace: ${r.error.message}`)
  process.exit(1)
}
process.exit(r.status ?? 1)
