/**
 * Small helpers for what goes on the HTTP wire: header values and hop-by-hop headers.
 */

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
