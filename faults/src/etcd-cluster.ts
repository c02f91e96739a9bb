/**
 * Which etcd member a client's connection went to. The cluster itself is the kit's
 * `EtcdCluster` (`@micro-ts/conformance/testing/etcd`), whose members open no pooled
 * connections of their own, so connectedPorts() sees only the clients under test.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'

/**
 * The loopback ports this process has established TCP connections to, among `ports`: which
 * member a client's stream went to (read from /proc: our socket inodes against /proc/net/tcp).
 */
export function connectedPorts(ports: readonly number[]): number[] {
  const inodes = new Set<string>()
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))
      if (m) inodes.add(m[1])
    } catch {
      // closed meanwhile
    }
  }
  const out = new Set<number>()
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 10 || f[3] !== '01' || !inodes.has(f[9])) continue
    const port = Number.parseInt(f[2].split(':')[1], 16)
    if (ports.includes(port)) out.add(port)
  }
  return [...out]
}
