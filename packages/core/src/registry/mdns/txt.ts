/**
 * The TXT payload of go-micro's mDNS registry (registry/mdns_registry.go `encode`/`decode`):
 * `hex(zlib(JSON(mdnsTxt)))` cut into strings of at most 255 characters, where mdnsTxt has Go's
 * untagged field names `{"Metadata","Service","Version","Endpoints"}` and `Metadata` is the NODE's
 * metadata. The service's own metadata does not travel (go-micro does not carry it either).
 */
import { deflateSync, inflateSync } from 'node:zlib'
import { decodeEndpoint, decodeStringMap } from '../json.js'
import type { Endpoint, Value } from '../types.js'

/** What one mDNS instance record says about its node. */
export interface MdnsTxt {
  service: string
  version: string
  endpoints?: Endpoint[]
  /** The node's metadata. */
  metadata?: Record<string, string>
}

/** A DNS TXT string holds at most 255 bytes; the hex text is ASCII, so 255 characters. */
export const TXT_CHUNK = 255
/** A decoded payload larger than this is refused (a zlib bomb must not exhaust memory). */
const MAX_JSON_BYTES = 1 << 20

interface GoValue {
  name: string
  type: string
  values: GoValue[] | null
}
interface GoEndpoint {
  request: GoValue | null
  response: GoValue | null
  metadata: Record<string, string> | null
  name: string
}

/** Go's encoding/json writes map keys sorted. */
function sortedMap(m: Record<string, string> | undefined): Record<string, string> | null {
  if (!m) return null
  const out: Record<string, string> = {}
  for (const k of Object.keys(m).sort()) out[k] = m[k]
  return out
}

function toGoValue(v: Value): GoValue {
  return { name: v.name, type: v.type, values: v.values ? v.values.map(toGoValue) : null }
}

function toGoEndpoint(e: Endpoint): GoEndpoint {
  return {
    request: e.request ? toGoValue(e.request) : null,
    response: e.response ? toGoValue(e.response) : null,
    metadata: sortedMap(e.metadata),
    name: e.name,
  }
}

/** Encode as go-micro does; every returned string is at most 255 characters. */
export function encodeTxt(txt: MdnsTxt): string[] {
  // Field order and nulls as Go's encoding/json writes them, so the bytes match a Go node's.
  const json = JSON.stringify({
    Metadata: sortedMap(txt.metadata),
    Service: txt.service,
    Version: txt.version,
    Endpoints: txt.endpoints ? txt.endpoints.map(toGoEndpoint) : null,
  })
  const hex = deflateSync(Buffer.from(json, 'utf8')).toString('hex')
  const out: string[] = []
  for (let i = 0; i < hex.length; i += TXT_CHUNK) out.push(hex.slice(i, i + TXT_CHUNK))
  return out
}

/**
 * Decode TXT strings (or raw buffers, as a DNS library hands them over). Returns undefined for
 * anything that is not a go-micro payload: bad hex, bad zlib, bad JSON, no service name.
 */
export function decodeTxt(record: readonly (string | Uint8Array)[]): MdnsTxt | undefined {
  try {
    const hex = record.map((r) => (typeof r === 'string' ? r : Buffer.from(r).toString('latin1'))).join('')
    if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) return undefined
    const json = inflateSync(Buffer.from(hex, 'hex'), { maxOutputLength: MAX_JSON_BYTES }).toString('utf8')
    const o = JSON.parse(json) as Record<string, unknown>
    if (!o || typeof o !== 'object' || typeof o.Service !== 'string' || o.Service === '') return undefined
    const out: MdnsTxt = { service: o.Service, version: typeof o.Version === 'string' ? o.Version : '' }
    if (Array.isArray(o.Endpoints)) {
      out.endpoints = o.Endpoints.map(decodeEndpoint).filter((x): x is Endpoint => x !== undefined)
    }
    const metadata = decodeStringMap(o.Metadata)
    if (metadata) out.metadata = metadata
    return out
  } catch {
    return undefined
  }
}
