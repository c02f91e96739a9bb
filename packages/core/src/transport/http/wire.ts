/**
 * Small helpers for what goes on the HTTP wire: header values, hop-by-hop headers and addresses.
 */
import { MicroError, TransportError } from '../../errors.js'

/**
 * Header names a message may not carry on the wire: they describe the connection, not the
 * message, and the transport sets them itself (Host, Content-Length). Dropping them lets a server
 * forward received headers as metadata without corrupting the next request.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'content-length',
  'expect',
  'host',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/** Anything outside printable ASCII and tab: rare, so the common case is one regex test. */
const UNSAFE_VALUE = /[^\t\x20-\x7e]/
const HIGH_BYTE = /[\x80-\xff]/

/**
 * A header value as Node and undici will write it. Both write header strings as latin1, so text
 * beyond ASCII is sent as its UTF-8 bytes (what Go sends and expects); control characters, which
 * would end the header line, become spaces.
 */
export function wireValue(value: string): string {
  if (!UNSAFE_VALUE.test(value)) return value
  let clean = ''
  let wide = false
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) clean += ' '
    else {
      if (c > 0x7f) wide = true
      clean += value[i]
    }
  }
  return wide ? Buffer.from(clean, 'utf8').toString('latin1') : clean
}

/** The inverse of wireValue: Node and undici read header bytes as latin1; Go's peers send UTF-8. */
export function textValue(value: string): string {
  if (!HIGH_BYTE.test(value)) return value
  const text = Buffer.from(value, 'latin1').toString('utf8')
  // Not valid UTF-8 after all (a real latin1 value): keep it as it was.
  return text.includes('\ufffd') ? value : text
}

/**
 * Received headers as a TransportMessage wants them: lower-case names (Node and undici already
 * lower-case), one string per name, UTF-8 text. Fixes `headers` in place and returns it.
 */
export function receivedHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string> {
  for (const k in headers) {
    const v = headers[k]
    if (typeof v === 'string') {
      if (HIGH_BYTE.test(v)) headers[k] = textValue(v)
    } else if (Array.isArray(v)) {
      headers[k] = textValue(v.join(', '))
    } else {
      delete headers[k]
    }
  }
  return headers as Record<string, string>
}

export interface HostPort {
  /** Empty for "all interfaces" (`:8080`). IPv6 without brackets. */
  host: string
  port: number
}

/** Parse `host:port`, `[v6]:port`, `:port` or a bare port. */
export function parseAddress(address: string, id = 'go.micro.transport'): HostPort {
  const text = address.trim()
  let host = ''
  let portText = text
  if (text.startsWith('[')) {
    const end = text.indexOf(']')
    if (end === -1 || text[end + 1] !== ':') throw invalidAddress(address, id)
    host = text.slice(1, end)
    portText = text.slice(end + 2)
  } else {
    const i = text.lastIndexOf(':')
    if (i !== -1) {
      host = text.slice(0, i)
      portText = text.slice(i + 1)
    }
  }
  if (!/^\d{1,5}$/.test(portText)) throw invalidAddress(address, id)
  const port = Number(portText)
  if (port > 65535) throw invalidAddress(address, id)
  return { host, port }
}

/**
 * The `host:port` a client dials for `address` (`:port` means this host). An unusable address
 * is a 400 TransportError marked not delivered, so the client may try another node.
 */
export function dialTarget(address: string, id: string): HostPort {
  try {
    const { host, port } = parseAddress(address, id)
    if (port === 0) throw new MicroError(id, 400, `invalid address "${address}": port 0`)
    return { host: host === '' ? '127.0.0.1' : host, port }
  } catch (e) {
    throw new TransportError((e as MicroError).detail, { delivered: false, code: 400 })
  }
}

/**
 * A client option that must be a positive number (strings from the environment are parsed);
 * undefined, null and '' take `fallback`. `label` names the transport in the TypeError.
 */
export function positiveOption(label: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback
  const n = typeof value === 'string' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
    throw new TypeError(`${label}: ${name} must be a positive number, got ${JSON.stringify(value)}`)
  }
  return n
}

function invalidAddress(address: string, id: string): MicroError {
  return new MicroError(id, 400, `invalid address "${address}": expected host:port, [ipv6]:port or :port`)
}

/** `host:port`, bracketing IPv6 hosts. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
