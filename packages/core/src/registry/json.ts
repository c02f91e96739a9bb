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
    const metadata = decodeStringMap(n.metadata)
    if (metadata) out.metadata = metadata
    nodes.push(out)
  }
  if (nodes.length === 0) return undefined
  const service: Service = {
    name: raw.name,
    version: typeof raw.version === 'string' ? raw.version : '',
    nodes,
  }
  const metadata = decodeStringMap(raw.metadata)
  if (metadata) service.metadata = metadata
  if (Array.isArray(raw.endpoints)) {
    service.endpoints = raw.endpoints.map(decodeEndpoint).filter((e): e is Endpoint => e !== undefined)
  }
  return service
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * A string map from decoded JSON, or undefined for anything that is not an object (`null`,
 * absent); non-string values are dropped. Shared by every registry record format.
 */
export function decodeStringMap(v: unknown): Record<string, string> | undefined {
  if (!isObject(v)) return undefined
  const out: Record<string, string> = {}
  for (const [k, s] of Object.entries(v)) if (typeof s === 'string') out[k] = s
  return out
}

/**
 * A go-micro `registry.Endpoint` from decoded JSON (lower-case field names, as etcd records,
 * mDNS TXT payloads and consul tags all write it); undefined when it has no name.
 */
export function decodeEndpoint(e: unknown): Endpoint | undefined {
  if (!isObject(e) || typeof e.name !== 'string') return undefined
  const out: Endpoint = { name: e.name }
  const request = decodeValue(e.request)
  const response = decodeValue(e.response)
  const metadata = decodeStringMap(e.metadata)
  if (request) out.request = request
  if (response) out.response = response
  if (metadata) out.metadata = metadata
  return out
}

function decodeValue(v: unknown, depth = 0): Value | undefined {
  // Go's reflection-built trees are shallow; the cap only guards against hostile records.
  if (!isObject(v) || depth > 32) return undefined
  const out: Value = {
    name: typeof v.name === 'string' ? v.name : '',
    type: typeof v.type === 'string' ? v.type : '',
  }
  if (Array.isArray(v.values)) {
    out.values = v.values.map((x) => decodeValue(x, depth + 1)).filter((x): x is Value => x !== undefined)
  }
  return out
}
