/**
 * go-micro's broker message on the wire: `json.Marshal(broker.Message)`. The Go struct has no JSON
 * tags, so the keys are `Header` and `Body`, and `[]byte` travels as standard base64. Go's decoder
 * matches keys case-insensitively and turns `null` into empty values; decoding here does the same.
 */
import { type BrokerMessage, MicroError } from '@micro-ts/core'
import { ERROR_ID } from './options.js'

export function encodeMessage(message: BrokerMessage): Uint8Array {
  const body = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength)
  return Buffer.from(JSON.stringify({ Header: message.headers ?? {}, Body: body.toString('base64') }))
}

/**
 * Decode a go-micro envelope. Anything else (a plain NATS publisher) is delivered as it is: the
 * bytes become the body and the NATS headers, if any, the headers. Nothing is dropped.
 */
export function decodeMessage(data: Uint8Array, natsHeaders?: Iterable<[string, string[]]>): BrokerMessage {
  const envelope = parseEnvelope(data)
  if (envelope) return envelope
  const headers: Record<string, string> = {}
  if (natsHeaders) for (const [k, v] of natsHeaders) headers[k] = v.join(',')
  return { headers, body: new Uint8Array(data) }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

function parseEnvelope(data: Uint8Array): BrokerMessage | undefined {
  // Cheap pre-check before JSON.parse: an envelope is a JSON object.
  if (data.length < 2 || data[0] !== 0x7b) return undefined
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'))
  } catch {
    return undefined
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined
  let header: unknown
  let body: unknown
  let seen = 0
  for (const [k, v] of Object.entries(raw)) {
    const key = k.toLowerCase()
    if (key === 'header') header = v
    else if (key === 'body') body = v
    else return undefined // another field: not an envelope, someone's own JSON
    seen++
  }
  if (seen === 0) return undefined
  if (header !== undefined && header !== null && (typeof header !== 'object' || Array.isArray(header)))
    return undefined
  if (body !== undefined && body !== null && (typeof body !== 'string' || !BASE64.test(body)))
    return undefined
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries((header as Record<string, unknown>) ?? {})) {
    if (typeof v !== 'string') return undefined
    headers[k] = v
  }
  return { headers, body: new Uint8Array(Buffer.from((body as string) ?? '', 'base64')) }
}

export function brokerError(code: number, detail: string, cause?: unknown): MicroError {
  return new MicroError(
    ERROR_ID,
    code,
    `nats broker: ${detail}`,
    undefined,
    cause === undefined ? undefined : { cause },
  )
}

/** The go-micro Message contract: string headers and a byte body. */
export function checkMessage(message: unknown): asserts message is BrokerMessage {
  if (!message || typeof message !== 'object')
    throw brokerError(400, 'message must be an object {headers, body}')
  const { headers, body } = message as Partial<BrokerMessage>
  if (!(body instanceof Uint8Array)) throw brokerError(400, 'message body must be a Uint8Array')
  if (headers === undefined) return
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
    throw brokerError(400, 'message headers must be an object of strings')
  }
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v !== 'string') throw brokerError(400, `message header ${JSON.stringify(k)} must be a string`)
  }
}

/**
 * A NATS subject: non-empty dot-separated tokens without whitespace. Wildcards (`*`, `>` as a
 * whole token, `>` last) are allowed where `wildcards` is true (subscribe), not for publish.
 */
export function checkTopic(topic: unknown, wildcards: boolean): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0)
    throw brokerError(400, 'topic must be a non-empty string')
  if (/\s/.test(topic))
    throw brokerError(400, `invalid topic ${JSON.stringify(topic)}: NATS subjects have no whitespace`)
  const tokens = topic.split('.')
  tokens.forEach((t, i) => {
    if (t === '') throw brokerError(400, `invalid topic ${JSON.stringify(topic)}: empty token between dots`)
    const wild = t === '*' || (t === '>' && i === tokens.length - 1)
    if (t.includes('*') || t.includes('>')) {
      if (!wild) throw brokerError(400, `invalid topic ${JSON.stringify(topic)}: misplaced wildcard`)
      if (!wildcards)
        throw brokerError(400, `cannot publish to ${JSON.stringify(topic)}: wildcards only subscribe`)
    }
  })
}
