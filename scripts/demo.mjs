#!/usr/bin/env node
// `pnpm demo`: the greeter demo. On the default mDNS registry it runs inside a private network
// namespace (multicast must never reach a real interface); with another registry
// (MICRO_REGISTRY=etcd, ...) it runs as is, so it can reach that registry's server.
//
// Inside the namespace the servers on this machine's 127.0.0.1 are out of reach, so a broker or
// store that needs one (MICRO_BROKER=rabbitmq, MICRO_STORE=mysql, ...) is bridged in: the demo
// listens on a Unix socket out here that forwards to the server's loopback port, and inside the
// namespace the same port on 127.0.0.1 forwards to that socket (a path-named Unix socket is
// reachable from any network namespace). All traffic stays on loopback; multicast stays inside.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = (f) => fileURLToPath(new URL(f, import.meta.url))
const demo = here('../examples/greeter/dist/demo.js')

/** Connect `a` and `b` both ways; either side closing closes the other. */
function pipe(a, b) {
  a.pipe(b)
  b.pipe(a)
  const end = () => {
    a.destroy()
    b.destroy()
  }
  a.on('error', end).on('close', end)
  b.on('error', end).on('close', end)
}

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'inherit' })
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)))
    for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => child.kill(s))
  })
}

// Inside the namespace: `demo.mjs --inside <dir> <port>...` forwards 127.0.0.1:<port> to
// <dir>/<port>.sock, then runs the demo.
if (process.argv[2] === '--inside') {
  const [dir, ...ports] = process.argv.slice(3)
  const servers = await Promise.all(
    ports.map(
      (port) =>
        new Promise((resolve, reject) => {
          const server = net.createServer((socket) =>
            pipe(socket, net.connect(path.join(dir, `${port}.sock`))),
          )
          server.once('error', reject)
          server.listen(Number(port), '127.0.0.1', () => resolve(server))
        }),
    ),
  )
  const code = await run(process.execPath, [demo])
  for (const s of servers) s.close()
  process.exit(code)
}

const registry = process.env.MICRO_REGISTRY ?? 'mdns'
if (registry === 'kubernetes') {
  // The greeter runs as a pod of the Deployment on the apiserver scripts/backends.sh starts: a
  // fresh namespace with its ServiceAccount, Role and a Running pod; demo-env.mjs prints the
  // in-cluster environment (service host, token folder, pod name and namespace) as KEY=VALUE.
  const env = execFileSync(process.execPath, [here('../examples/greeter/k8s/demo-env.mjs')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  for (const line of env.split('\n')) {
    const i = line.indexOf('=')
    if (i > 0) process.env[line.slice(0, i)] = line.slice(i + 1)
  }
}
if (registry !== 'mdns') process.exit(await run(process.execPath, [demo]))

// The private namespace is made with Linux's `unshare`. A machine without it (macOS, Windows) is a
// developer's own laptop, where mDNS multicast on the local network is what mDNS is for: say so,
// and how to run the demo there, instead of failing on a missing command.
const onPath = (cmd) =>
  (process.env.PATH ?? '').split(path.delimiter).some((d) => d && existsSync(path.join(d, cmd)))
if (process.env.MICRO_NETNS !== '1' && !onPath('unshare')) {
  console.error(
    `demo: there is no \`unshare\` on this machine (${process.platform}), so the demo cannot make the private ` +
      'network namespace it uses on Linux to keep mDNS multicast off real networks.\n' +
      'On your own laptop the mDNS default needs no namespace; run the demo directly:\n\n' +
      '  node examples/greeter/dist/demo.js\n\n' +
      'or pick a registry with a server: MICRO_REGISTRY=etcd MICRO_REGISTRY_ADDRESS=127.0.0.1:2379 pnpm demo\n' +
      '(On Linux, `unshare` comes with util-linux.)',
  )
  process.exit(2)
}

// The loopback servers the chosen broker and store talk to. The ports are the plugins' defaults
// (their READMEs) unless MICRO_<KIND>_ADDRESS names another.
const DEFAULT_PORTS = {
  MICRO_BROKER: { nats: 4222, rabbitmq: 5672 },
  MICRO_STORE: { postgres: 5432, mysql: 3306, redis: 6379 },
}
const DEFAULT_SCHEME_PORTS = {
  'nats:': 4222,
  'amqp:': 5672,
  'postgresql:': 5432,
  'postgres:': 5432,
  'mysql:': 3306,
  'redis:': 6379,
}
const EMBEDDED = { MICRO_BROKER: ['http', 'memory'], MICRO_STORE: ['memory'] }
const ports = new Set()
for (const [variable, known] of Object.entries(DEFAULT_PORTS)) {
  const name = process.env[variable]
  if (!name || EMBEDDED[variable].includes(name)) continue
  const first = (process.env[`${variable}_ADDRESS`] ?? '').split(',')[0].trim()
  const target = first ? hostPort(first) : known[name] && { host: '127.0.0.1', port: known[name] }
  if (!target || !['127.0.0.1', 'localhost', '::1', '[::1]'].includes(target.host) || !target.port) {
    console.error(
      `demo: ${variable}=${name}${first ? ` at ${first}` : ''}: on the mDNS registry the demo runs in a private network ` +
        "namespace and can bring in only servers on this machine's loopback with a known port; set " +
        `${variable}_ADDRESS=127.0.0.1:<port>, or pick a registry with a server (MICRO_REGISTRY=etcd).`,
    )
    process.exit(2)
  }
  ports.add(target.port)
}

/** `scheme://user@host:port/x` or `host:port` → { host, port } (port 0 when none). */
function hostPort(address) {
  try {
    if (address.includes('://')) {
      const url = new URL(address)
      return { host: url.hostname, port: Number(url.port) || DEFAULT_SCHEME_PORTS[url.protocol] || 0 }
    }
    const i = address.lastIndexOf(':')
    return { host: address.slice(0, i) || '127.0.0.1', port: Number(address.slice(i + 1)) }
  } catch {
    return undefined
  }
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'micro-demo-'))
const bridges = await Promise.all(
  [...ports].map(
    (port) =>
      new Promise((resolve, reject) => {
        const server = net.createServer((socket) => pipe(socket, net.connect(port, '127.0.0.1')))
        server.once('error', reject)
        server.listen(path.join(dir, `${port}.sock`), () => resolve(server))
      }),
  ),
)
const inside = ports.size > 0 ? [here('./demo.mjs'), '--inside', dir, ...ports] : [demo]
const code = await run(process.execPath, [here('./netns.mjs'), process.execPath, ...inside])
for (const b of bridges) b.close()
rmSync(dir, { recursive: true, force: true })
process.exit(code)
