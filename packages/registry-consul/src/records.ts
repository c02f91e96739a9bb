/**
 * go-micro's layout of a node in Consul (registry/consul/consul.go), both ways: one Consul
 * service instance per node, ID = node id, Name = service name, Address/Port split from the node
 * address, node metadata in `Meta` and (with version and endpoints) in go-micro's tags, and, when
 * registered with a TTL, a TTL check `service:<id>` that Consul deregisters after
 * `max(TTL, 1m) + 5s` critical.
 */
import { isIP } from 'node:net'
import type { Endpoint, Node, Service } from '@micro-ts/core'
import type { Registration, ServiceEntry } from './agents.js'
import { decodeEndpoints, decodeMetadata, decodeVersion, encodeTags } from './encoding.js'

/** Go's `time.Duration.String()` of a whole number of milliseconds: `500ms`, `1m5s`, `1h0m0s`. */
export function goDuration(ms: number): string {
  const total = Math.round(ms)
  if (total === 0) return '0s'
  if (total < 1000) return `${total}ms`
  const h = Math.floor(total / 3_600_000)
  const m = Math.floor((total % 3_600_000) / 60_000)
  const s = (total % 60_000) / 1000
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`
}

/** go-micro's `getDeregisterTTL`: the TTL plus 5 s, and never under Consul's 1 minute floor plus 5 s. */
export function deregisterAfter(ttlMs: number): number {
  return Math.max(ttlMs, 60_000) + 5_000
}

/**
 * Consul's rules for `Meta` (agent/structs: at most 64 pairs, keys of `[A-Za-z0-9_-]` up to 128
 * characters not starting with `consul-`, values up to 512): go-micro copies node metadata there
 * as is and a registration with any other pair fails. Ours copies only the pairs Consul accepts;
 * every pair still travels in the tags, which is where go-micro reads node metadata from.
 */
export function consulMeta(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  let n = 0
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (n >= 64) break
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(k) || k.startsWith('consul-') || v.length > 512) continue
    out[k] = v
    n++
  }
  return out
}

/** Go's `net.SplitHostPort` as go-micro uses it: a bare host keeps the whole address and port 0. */
export function splitHostPort(address: string): { host: string; port: number } {
  const v6 = /^\[([^\]]*)\]:(\d*)$/.exec(address)
  if (v6) return { host: v6[1], port: portOf(v6[2]) }
  const i = address.lastIndexOf(':')
  if (i < 0 || address.indexOf(':') !== i) return { host: address, port: 0 }
  return { host: address.slice(0, i) || address, port: portOf(address.slice(i + 1)) }
}

function portOf(text: string): number {
  const p = /^\d+$/.test(text) ? Number(text) : 0
  return p <= 65_535 ? p : 0
}

/** go-micro's `mnet.HostPort(address, port)`: IPv6 in brackets, no port for a 0 port on a name. */
export function hostPort(address: string, port: number): string {
  const host = address.includes(':') ? `[${address}]` : address
  if (port === 0 && isIP(host) === 0) return host
  return `${host}:${port}`
}

/** The registration of one node of `service`, as go-micro's `Register` builds it. */
export function registration(service: Service, node: Node, ttlMs: number): Registration {
  const { host, port } = splitHostPort(node.address)
  const body: Registration = {
    ID: node.id,
    Name: service.name,
    Tags: encodeTags(service.version ?? '', service.endpoints, node.metadata),
    Address: host,
    Port: port,
    Meta: consulMeta(node.metadata),
  }
  if (ttlMs > 0) {
    // Born passing (go-micro registers critical, then passes at once): no moment without the node.
    body.Check = {
      TTL: goDuration(ttlMs),
      Status: 'passing',
      DeregisterCriticalServiceAfter: goDuration(deregisterAfter(ttlMs)),
    }
  }
  return body
}

/** One node read back from a health entry, with the version and endpoints its tags carry. */
interface Instance {
  version: string
  endpoints: Endpoint[]
  node: Node
}

function instance(entry: ServiceEntry): Instance | undefined {
  const s = entry.Service
  if (!s || typeof s.ID !== 'string' || s.ID === '') return undefined
  // go-micro drops a node as soon as any of its checks (its own or its Consul node's) is critical.
  if ((entry.Checks ?? []).some((c) => c?.Status === 'critical')) return undefined
  const tags = Array.isArray(s.Tags) ? s.Tags.filter((t): t is string => typeof t === 'string') : []
  const address = s.Address || entry.Node?.Address || ''
  const node: Node = { id: s.ID, address: hostPort(address, typeof s.Port === 'number' ? s.Port : 0) }
  let metadata = decodeMetadata(tags)
  // Not registered by go-micro (no metadata tags): Consul's own Meta is the node's metadata.
  if (Object.keys(metadata).length === 0 && s.Meta && typeof s.Meta === 'object') metadata = { ...s.Meta }
  if (Object.keys(metadata).length > 0) node.metadata = metadata
  return { version: decodeVersion(tags), endpoints: decodeEndpoints(tags), node }
}

/**
 * go-micro's `GetService` over the health entries of `name`: one Service per version, endpoints
 * from the version's first entry, nodes with a critical check left out, versions without a live
 * node left out. Entries of another name (Consul matches names case-insensitively) are skipped.
 */
export function servicesFromEntries(name: string, entries: readonly ServiceEntry[]): Service[] {
  const byVersion = new Map<string, Service>()
  for (const entry of entries) {
    if (entry?.Service?.Service !== name) continue
    const i = instance(entry)
    if (!i) continue
    let svc = byVersion.get(i.version)
    if (!svc) {
      svc = { name, version: i.version, nodes: [] }
      if (i.endpoints.length > 0) svc.endpoints = i.endpoints
      byVersion.set(i.version, svc)
    }
    const at = svc.nodes.findIndex((n) => n.id === i.node.id)
    if (at >= 0) svc.nodes[at] = i.node
    else svc.nodes.push(i.node)
  }
  return [...byVersion.values()]
}

/** The versions the tags of a catalog service listing carry (`v-` tags); `['']` when none. */
export function versionsFromTags(tags: readonly string[]): string[] {
  const versions = new Set<string>()
  for (const t of tags)
    if (t.length >= 2 && t[0] === 'v' && (t[1] === '-' || t[1] === '=')) versions.add(decodeVersion([t]))
  return versions.size > 0 ? [...versions] : ['']
}
