/**
 * go-micro's `registry.Service` as JSON, the record etcd values and kubernetes pod annotations
 * hold. As in Go, a field that is absent (a nil map, slice or pointer) is written as `null` and
 * an empty one as `{}`/`[]`, so records round-trip exactly: decoding leaves `null` fields out.
 * Anything that is not a service record decodes to undefined, so a stray value never breaks a lookup.
 */
import type { Endpoint, Node, Service, Value } from './types.js'

/** The JSON of `service` holding `nodes` (default: its own), field for field as go-micro writes it. */
export function encodeServiceJson(service: Service, nodes: readonly Node[] = service.nodes ?? []): string {
  return JSON.stringify({
    name: service.name,
    version: service.version ?? '',
    metadata: service.metadata ?? null,
    endpoints: service.endpoints?.map(encodeEndpoint) ?? null,
    nodes: nodes.map((node) => ({
      id: node.id,
      address: node.address ?? '',
      metadata: node.metadata ?? null,
    })),
  })
}

function encodeEndpoint(e: Endpoint): object {
  return {
    name: e.name,
    request: e.request ?? null,
    response: e.response ?? null,
    metadata: e.metadata ?? null,
  }
}

/** Parse a record; `undefined` when the text is not a service record with at least one node. */
export function decodeServiceJson(text: string): Service | undefined {
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
    const out: Node = { id: n.id, address: typeof n.address === 'string' ? n.address : '' }
    const metadata = strings(n.metadata)
    if (metadata) out.metadata = metadata
    nodes.push(out)
  }
  if (nodes.length === 0) return undefined
  const service: Service = {
    name: raw.name,
    version: typeof raw.version === 'string' ? raw.version : '',
    nodes,
  }
  const metadata = strings(raw.metadata)
  if (metadata) service.metadata = metadata
  if (Array.isArray(raw.endpoints)) service.endpoints = raw.endpoints.flatMap((e) => endpoint(e))
  return service
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A string map, or undefined for `null`/absent (non-string values are dropped). */
function strings(v: unknown): Record<string, string> | undefined {
  if (!isObject(v)) return undefined
  const out: Record<string, string> = {}
  for (const [k, s] of Object.entries(v)) if (typeof s === 'string') out[k] = s
  return out
}

function endpoint(e: unknown): Endpoint[] {
  if (!isObject(e) || typeof e.name !== 'string') return []
  const out: Endpoint = { name: e.name }
  const metadata = strings(e.metadata)
  const request = value(e.request)
  const response = value(e.response)
  if (request) out.request = request
  if (response) out.response = response
  if (metadata) out.metadata = metadata
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
    out.values = v.values.map((x) => value(x, depth + 1)).filter((x): x is Value => x !== undefined)
  }
  return out
}
