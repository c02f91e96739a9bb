/**
 * etcd stores one record per node; a lookup merges them into one Service per name and version.
 * Done in one pass: core's `mergeServices` copies the nodes merged so far at every record, which
 * is quadratic in the number of nodes (10,000 nodes took seconds, the event loop blocked).
 */
import type { Node, Service } from '@micro-ts/core'

/**
 * Like `mergeServices`: a later node with the same id replaces an earlier one (keeping its place),
 * the later record's endpoints and metadata win, groups and nodes keep their first-seen order.
 * The records are freshly decoded and not kept elsewhere, so they are used without copies.
 */
export function mergeRecords(records: Iterable<Service>): Service[] {
  const groups = new Map<
    string,
    {
      last: Service
      endpoints?: Service['endpoints']
      metadata?: Service['metadata']
      nodes: Map<string, Node>
    }
  >()
  for (const r of records) {
    const key = `${r.name}\u0000${r.version ?? ''}`
    let group = groups.get(key)
    if (!group) {
      group = { last: r, nodes: new Map() }
      groups.set(key, group)
    }
    group.last = r
    if (r.endpoints) group.endpoints = r.endpoints
    if (r.metadata) group.metadata = r.metadata
    for (const n of r.nodes ?? []) group.nodes.set(n.id, n)
  }
  return [...groups.values()].map((g) => {
    const out: Service = { name: g.last.name, version: g.last.version ?? '', nodes: [...g.nodes.values()] }
    if (g.metadata) out.metadata = g.metadata
    if (g.endpoints) out.endpoints = g.endpoints
    return out
  })
}
