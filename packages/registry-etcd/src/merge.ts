/**
 * etcd stores one record per node; a lookup merges them into one Service per name and version.
 * Done in one pass: core's `mergeServices` copies the nodes merged so far at every record, which
 * is quadratic in the number of nodes (10,000 nodes took seconds, the event loop blocked).
 */
import type { Node, Service } from '@micro-ts/core'
import { mergeServices } from '@micro-ts/core/plugin'

/**
 * Like `mergeServices`: a later node with the same id replaces an earlier one (keeping its place),
 * the later record's endpoints and metadata win, groups and nodes keep their first-seen order.
 */
export function mergeRecords(records: Iterable<Service>): Service[] {
  const groups = new Map<string, { service: Service; nodes: Map<string, Node> }>()
  for (const r of records) {
    const key = `${r.name}\u0000${r.version ?? ''}`
    let group = groups.get(key)
    if (!group) {
      group = { service: r, nodes: new Map() }
      groups.set(key, group)
    } else {
      group.service = {
        ...r,
        endpoints: r.endpoints ?? group.service.endpoints,
        metadata: r.metadata ?? group.service.metadata,
      }
    }
    for (const n of r.nodes ?? []) group.nodes.set(n.id, n)
  }
  // One record per group: mergeServices makes the copies (and drops undefined fields) in linear time.
  return mergeServices([...groups.values()].map((g) => ({ ...g.service, nodes: [...g.nodes.values()] })))
}
