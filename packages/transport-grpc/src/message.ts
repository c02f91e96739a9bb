/**
 * go-micro's gRPC transport wire format: one gRPC method, `/go.micro.transport.grpc.Transport/Stream`,
 * a bidirectional stream of `Message { map<string,string> header = 1; bytes body = 2; }`
 * (go-micro v5 transport/grpc/proto/transport.proto), plus the small conversions around it.
 */
import type { TransportMessage } from '@micro-ts/core'
import protobuf from 'protobufjs'

/** The gRPC method every go-micro transport "socket" is a call of. */
export const STREAM_PATH = '/go.micro.transport.grpc.Transport/Stream'

/** The protobuf message as protobufjs reads and writes it. */
export interface WireMessage {
  header: Record<string, string>
  body: Uint8Array
}

// Defined in code rather than loaded from a .proto: two fields, and nothing to locate at runtime.
const Message = new protobuf.Type('Message')
  .add(new protobuf.MapField('header', 1, 'string', 'string'))
  .add(new protobuf.Field('body', 2, 'bytes'))
new protobuf.Root().define('go.micro.transport.grpc').add(Message)

export const EMPTY: Uint8Array = Buffer.alloc(0)

export function serialize(message: WireMessage): Buffer {
  const bytes = Message.encode(message).finish()
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Throws on malformed bytes; grpc-js then fails that call (INTERNAL), nothing else. */
export function deserialize(bytes: Buffer): WireMessage {
  const m = Message.decode(bytes) as unknown as Partial<WireMessage>
  return { header: m.header ?? {}, body: m.body && m.body.length > 0 ? m.body : EMPTY }
}

/**
 * go-micro reads these with exact-case map lookups (`msg.Header["Micro-ID"]`, `Header["Timeout"]`),
 * and gRPC keeps names as sent, so they go out in go-micro's spelling.
 */
const GO_MICRO_NAMES = [
  'Micro-ID',
  'Micro-Service',
  'Micro-Endpoint',
  'Micro-Method',
  'Micro-Error',
  'Micro-Stream',
  'Micro-Topic',
  'Micro-Namespace',
  'Micro-Protocol',
  'Micro-Target',
  'Micro-Span-ID',
  'Micro-Trace-ID',
  'Content-Type',
  'Accept',
  'Timeout',
  'Connection',
]
const SPELLING = new Map<string, string>()
for (const name of GO_MICRO_NAMES) {
  SPELLING.set(name.toLowerCase(), name)
  SPELLING.set(`x-${name.toLowerCase()}`, `X-${name}`)
}

const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/

/**
 * A header name as go-micro expects it: its own spelling for the names above, otherwise the
 * canonical MIME form (`x-trace-tag` → `X-Trace-Tag`), which is what Go services see over the
 * HTTP transport and what go-micro's `metadata.Get` finds.
 */
export function wireName(name: string): string {
  const lower = name.toLowerCase()
  const known = SPELLING.get(lower)
  if (known) return known
  if (!TOKEN.test(name)) return name
  let out = ''
  let upper = true
  for (const c of lower) {
    out += upper ? c.toUpperCase() : c
    upper = c === '-'
  }
  return out
}

/** Outgoing headers: go-micro spellings, string values, one entry per name (the last one wins). */
export function wireHeaders(
  headers: Record<string, string> | undefined,
  base?: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = base ? { ...base } : {}
  if (!headers) return out
  for (const k in headers) {
    const v = headers[k]
    if (v === undefined || v === null) continue
    out[wireName(k)] = typeof v === 'string' ? v : String(v)
  }
  return out
}

/** Received headers: lower-case names (the framework's convention). */
export function receivedHeaders(header: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const k in header) out[k.toLowerCase()] = header[k]
  return out
}

export function toTransport(m: WireMessage): TransportMessage {
  return { headers: receivedHeaders(m.header), body: m.body }
}

/** Does the message end a stream? `'eos'` for a clean end, the error for a failed one. */
export function streamEnd(headers: Record<string, string>): 'eos' | string | undefined {
  const e = headers['micro-error']
  if (e === undefined || e === '') return undefined
  return e === 'EOS' ? 'eos' : e
}
