/**
 * go-micro's Consul tag encoding (registry/consul/encoding.go): the service version, every
 * endpoint and every node metadata pair travel as Consul tags, each `<letter>-<hex(zlib(data))>`:
 *
 * - `v-` + the version text
 * - `e-` + the JSON of one endpoint (`{name, request, response, metadata}`, absent fields `null`)
 * - `t-` + the JSON of a one-pair object `{"key":"value"}`, one tag per node metadata pair
 *
 * go-micro's decoders also read the legacy plain forms `v=`, `e=` and `t=`, and for endpoints and
 * metadata use only the form of the first such tag they meet; ours do the same. Tags that do not
 * decode are ignored, so another tool's tags on the same service never break a lookup.
 */
import { deflateSync, inflateSync } from 'node:zlib'
import type { Endpoint, Value } from '@micro-ts/core'
import { decodeEndpoint, decodeStringMap } from '@micro-ts/core/plugin'

/** hex(zlib(text)): zlib (RFC 1950) framing, as Go's `compress/zlib` writes and reads it. */
export function pack(text: string): string {
  return deflateSync(Buffer.from(text, 'utf8')).toString('hex')
}

/** The inverse of {@link pack}; `undefined` when `hex` is not hex of zlib data. */
export function unpack(hex: string): string | undefined {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined
  try {
    return inflateSync(Buffer.from(hex, 'hex')).toString('utf8')
  } catch {
    return undefined
  }
}

/** Go's JSON of a `*registry.Value`: `values` is `null` when absent. */
function valueJson(v: Value | undefined): unknown {
  if (!v) return null
  return { name: v.name, type: v.type, values: v.values ? v.values.map(valueJson) : null }
}

/** Go's JSON of a `*registry.Endpoint`, field order and nulls as `json.Marshal` writes them. */
export function endpointJson(e: Endpoint): string {
  return JSON.stringify({
    name: e.name,
    request: valueJson(e.request),
    response: valueJson(e.response),
    metadata: e.metadata ?? null,
  })
}

export function encodeVersion(version: string): string {
  return `v-${pack(version)}`
}

export function encodeEndpoints(endpoints: readonly Endpoint[] | undefined): string[] {
  return (endpoints ?? []).map((e) => `e-${pack(endpointJson(e))}`)
}

/** One tag per pair; go-micro iterates a Go map (random order), ours keeps the object's order. */
export function encodeMetadata(metadata: Record<string, string> | undefined): string[] {
  return Object.entries(metadata ?? {}).map(([k, v]) => `t-${pack(JSON.stringify({ [k]: v }))}`)
}

/** Version, endpoints and node metadata as go-micro's tags (metadata, endpoints, version: its order). */
export function encodeTags(
  version: string,
  endpoints: readonly Endpoint[] | undefined,
  metadata: Record<string, string> | undefined,
): string[] {
  return [...encodeMetadata(metadata), ...encodeEndpoints(endpoints), encodeVersion(version)]
}

/** The payload of a tag of `letter` in either form, or undefined when it is not one. */
function payload(tag: string, letter: string, form: string): string | undefined {
  if (tag.length < 2 || tag[0] !== letter || tag[1] !== form) return undefined
  return form === '=' ? tag.slice(2) : unpack(tag.slice(2))
}

/** The form (`-` or `=`) of the first tag of `letter`, which decides which tags count. */
function firstForm(tags: readonly string[], letter: string): string | undefined {
  for (const t of tags) if (t.length >= 2 && t[0] === letter && (t[1] === '-' || t[1] === '=')) return t[1]
  return undefined
}

/** The version of the first `v-`/`v=` tag; '' when there is none (go-micro's zero value). */
export function decodeVersion(tags: readonly string[]): string {
  for (const t of tags) {
    if (t.length < 2 || t[0] !== 'v') continue
    if (t[1] === '=') return t.slice(2)
    if (t[1] === '-') return unpack(t.slice(2)) ?? ''
  }
  return ''
}

export function decodeEndpoints(tags: readonly string[]): Endpoint[] {
  const form = firstForm(tags, 'e')
  if (!form) return []
  const out: Endpoint[] = []
  for (const t of tags) {
    const text = payload(t, 'e', form)
    if (text === undefined) continue
    const e = decodeEndpoint(parse(text))
    if (e) out.push(e)
  }
  return out
}

export function decodeMetadata(tags: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  const form = firstForm(tags, 't')
  if (!form) return out
  for (const t of tags) {
    const text = payload(t, 't', form)
    if (text === undefined) continue
    Object.assign(out, decodeStringMap(parse(text)))
  }
  return out
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
