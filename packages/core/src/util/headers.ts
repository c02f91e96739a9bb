/**
 * Header names are case-insensitive on the wire; inside the framework they are lower-case.
 * Returns `headers` itself when it already is (transports lower-case on receipt, so on the
 * request path this is a scan, not a copy); otherwise a lower-cased copy.
 */
export function lowerCaseHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string> {
  if (isLowerCase(headers)) return headers as Record<string, string>
  const out: Record<string, string> = {}
  for (const k in headers) {
    const v = headers[k]
    if (v === undefined) continue
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v
  }
  return out
}

function isLowerCase(headers: Record<string, string | string[] | undefined>): boolean {
  for (const k in headers) {
    // V8 returns an all-lower-case string itself from toLowerCase(): no copy in the common case.
    if (typeof headers[k] !== 'string' || k.toLowerCase() !== k) return false
  }
  return true
}

/**
 * Lookup in headers with lower-cased names (see lowerCaseHeaders), also accepting go-micro's
 * `X-` prefixed fallback (`X-Micro-Service`).
 */
export function getHeader(headers: Record<string, string>, name: string): string | undefined {
  const lower = name.toLowerCase()
  return headers[lower] ?? headers[`x-${lower}`]
}

/** go-micro's `Timeout` header (nanoseconds as a decimal string) in milliseconds, or undefined. */
export function parseTimeoutHeader(value: string | undefined): number | undefined {
  if (value === undefined || value.length === 0 || value.length > 20) return undefined
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c < 0x30 || c > 0x39) return undefined
  }
  const ns = Number(value)
  return ns > 0 ? ns / 1e6 : undefined
}

/**
 * go-micro's deadline header. One owner on each side: the RPC client writes it from the call's
 * timeout, the RPC server reads it into the handler's deadline; transports carry it as any header.
 */
export const TIMEOUT_HEADER = 'Timeout'

/** A deadline `ms` from now as go-micro's `Timeout` value: whole nanoseconds, at least 1. */
export function formatTimeoutHeader(ms: number): string {
  return String(Math.max(1, Math.round(ms * 1e6)))
}
