/**
 * go-micro's broker message on the wire: `json.Marshal(broker.Message)`. The Go struct has no JSON
 * tags, so the keys are `Header` and `Body`, and `[]byte` travels as standard base64. Go's decoder
 * matches keys case-insensitively and turns `null` into empty values; decoding here does the same.
 * The HTTP broker and the NATS broker both speak it.
 */
import { errors } from '../errors.js'
import { BROKER_ERROR_ID } from './message.js'
import type { BrokerMessage } from './types.js'

/**
 * The envelope as bytes. Built as one string rather than `JSON.stringify` of the whole object,
 * which would scan the base64 body again for characters to escape (base64 has none). `headers`
 * are added over the message's own (the HTTP broker adds `Micro-Topic`). Headers must be strings.
 */
export function encodeBrokerEnvelope(message: BrokerMessage, headers?: Record<string, string>): Buffer {
  const { body } = message
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  const base64 = bytes.toString('base64')
  const head = `{"Header":${JSON.stringify(headers ? { ...message.headers, ...headers } : (message.headers ?? {}))},"Body":"`
  if (base64.length < 1024) return Buffer.from(`${head}${base64}"}`)
  // A large body: copy its base64 (ASCII) straight in rather than through one big string.
  const headLength = Buffer.byteLength(head)
  const out = Buffer.allocUnsafe(headLength + base64.length + 2)
  out.write(head, 0, 'utf8')
  out.write(base64, headLength, 'latin1')
  out[out.length - 2] = 0x22 // "
  out[out.length - 1] = 0x7d // }
  return out
}

/** Decodes as Buffer#toString('utf8') does (invalid sequences become U+FFFD). */
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true })

type Parsed = { ok: true; message: BrokerMessage } | { ok: false; why: string }

function parse(data: Uint8Array | string): Parsed {
  const text = typeof data === 'string' ? data : utf8.decode(data)
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    return { ok: false, why: `body is not JSON (${(err as Error).message})` }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, why: 'expected a JSON object {"Header":{...},"Body":"<base64>"}' }
  }
  let header: unknown
  let body: unknown
  let seen = 0
  for (const k in raw) {
    if (!Object.hasOwn(raw, k)) continue
    const v = (raw as Record<string, unknown>)[k]
    // Go matches keys case-insensitively; the exact spelling is the common case.
    const key = k === 'Header' || k === 'Body' ? k : k.toLowerCase()
    if (key === 'Header' || key === 'header') header = v
    else if (key === 'Body' || key === 'body') body = v
    else return { ok: false, why: `unexpected field ${JSON.stringify(k)}` }
    seen++
  }
  if (seen === 0) return { ok: false, why: 'expected a JSON object {"Header":{...},"Body":"<base64>"}' }
  if (header !== undefined && header !== null && (typeof header !== 'object' || Array.isArray(header))) {
    return { ok: false, why: '"Header" must be an object of strings' }
  }
  let bytes: Uint8Array
  if (body === undefined || body === null) bytes = new Uint8Array()
  else if (typeof body !== 'string') return { ok: false, why: '"Body" must be a base64 string' }
  else {
    const decoded = decodeBase64(body)
    if (!decoded) return { ok: false, why: '"Body" must be a base64 string' }
    bytes = decoded
  }
  const headers: Record<string, string> = {}
  if (header) {
    for (const k in header) {
      if (!Object.hasOwn(header, k)) continue
      const v = (header as Record<string, unknown>)[k]
      if (v === null) continue
      if (typeof v !== 'string') return { ok: false, why: `header ${JSON.stringify(k)} must be a string` }
      headers[k] = v
    }
  }
  return { ok: true, message: { headers, body: bytes } }
}

/** The go-micro envelope in `data`, or undefined if it is not one (someone's own JSON, plain bytes). */
export function parseBrokerEnvelope(data: Uint8Array | string): BrokerMessage | undefined {
  // Cheap pre-check before JSON.parse: an envelope is a JSON object.
  if (typeof data !== 'string' && (data.length < 2 || data[0] !== 0x7b)) return undefined
  const r = parse(data)
  return r.ok ? r.message : undefined
}

/** The go-micro envelope in `data`; anything else is a 400 MicroError saying what is wrong. */
export function decodeBrokerEnvelope(data: Uint8Array | string): BrokerMessage {
  const r = parse(data)
  if (!r.ok) throw errors.badRequest(BROKER_ERROR_ID, `malformed message: ${r.why}`)
  return r.message
}

const BASE64_CHAR = new Uint8Array(128)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')
  BASE64_CHAR[c.charCodeAt(0)] = 1

/**
 * Standard base64 (`[A-Za-z0-9+/]`, up to two `=` at the end, `\r`/`\n` allowed as Go's decoder
 * does) to bytes, or undefined. No regular expression: one over a body of megabytes overflows
 * the regexp stack. Node's decoder skips what it does not know, so a clean string is one whose
 * length decodes to exactly the bytes Node returns.
 */
export function decodeBase64(s: string): Uint8Array | undefined {
  let n = s.length
  if ((n & 3) !== 0 || s.includes('\n') || s.includes('\r')) {
    // Rare (Go pads and never wraps): check every character.
    const clean = s.replace(/[\r\n]/g, '')
    n = clean.length
    let end = n
    while (end > 0 && clean.charCodeAt(end - 1) === 61) end--
    if (n - end > 2) return undefined
    for (let i = 0; i < end; i++) {
      const c = clean.charCodeAt(i)
      if (c >= 128 || BASE64_CHAR[c] !== 1) return undefined
    }
    if ((end & 3) === 1) return undefined
    if (n - end > 0 && (n & 3) !== 0) return undefined
    return plain(Buffer.from(clean, 'base64'))
  }
  if (Buffer.byteLength(s, 'utf8') !== n || s.includes('-') || s.includes('_')) return undefined
  const pad = n === 0 ? 0 : s.charCodeAt(n - 1) !== 61 ? 0 : s.charCodeAt(n - 2) !== 61 ? 1 : 2
  const bytes = Buffer.from(s, 'base64')
  return bytes.length === (n >>> 2) * 3 - pad ? plain(bytes) : undefined
}

/** The same memory as a plain Uint8Array, which is what brokers deliver. */
function plain(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}
