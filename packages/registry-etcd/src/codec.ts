/**
 * The value stored under a node key: go-micro's `registry.Service` JSON with exactly one node.
 * Records written by Go carry `null` for empty maps and lists; decoding turns those into empty
 * values and drops anything that is not a service record, so a stray key never breaks a lookup.
 */
import type { Endpoint, Node, Service, Value } from '@micro-ts/core'

/** The JSON of `service` holding only `node`, field for field as go-micro writes it. */
export function encodeService(service: Service, node: Node): string {
  return JSON.stringify({
    name: service.name,
    version: service.version ?? '',
    metadata: service.metadata ?? {},
    endpoints: service.endpoints ?? [],
    nodes: [{ id: node.id, address: node.address ?? '', metadata: node.metadata ?? {} }],
  })
}

/** Parse a stored record; `undefined` when the text is not a service record with at least one node. */
export function decodeService(text: string): Service | undefined {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!isObject(raw) || typeof raw.name !== 'string' || !Array.isArray(raw.nodes)) return undefined
  const nodes: Node[] = []
  for (const n of raw.nodes) {
    if (!isObject(n) || typeof n.id !== 'string') continue
    nodes.push({
      id: n.id,
      address: typeof n.address === 'string' ? n.address : '',
      metadata: strings(n.metadata),
    })
  }
  if (nodes.length === 0) return undefined
  return {
    name: raw.name,
    version: typeof raw.version === 'string' ? raw.version : '',
    metadata: strings(raw.metadata),
    endpoints: Array.isArray(raw.endpoints) ? raw.endpoints.flatMap((e) => endpoint(e)) : [],
    nodes,
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function strings(v: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (!isObject(v)) return out
  for (const [k, s] of Object.entries(v)) if (typeof s === 'string') out[k] = s
  return out
}

function endpoint(e: unknown): Endpoint[] {
  if (!isObject(e) || typeof e.name !== 'string') return []
  const out: Endpoint = { name: e.name, metadata: strings(e.metadata) }
  const request = value(e.request)
  const response = value(e.response)
  if (request) out.request = request
  if (response) out.response = response
  return [out]
}

function value(v: unknown, depth = 0): Value | undefined {
  // Go's reflection-built trees are shallow; the cap only guards against hostile records.
  if (!isObject(v) || depth > 32) return undefined
  const out: Value = {
    name: typeof v.name === 'string' ? v.name : '',
    type: typeof v.type === 'string' ? v.type : '',
  }
  if (Array.isArray(v.values)) {
    const values = v.values.map((x) => value(x, depth + 1)).filter((x): x is Value => x !== undefined)
    if (values.length > 0) out.values = values
  }
  return out
}
