/** Header names are case-insensitive on the wire; inside the framework they are lower-case. */
export function lowerCaseHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v
  }
  return out
}

/** Case-insensitive header lookup, also accepting go-micro's `X-` prefixed fallback (`X-Micro-Service`). */
export function getHeader(headers: Record<string, string>, name: string): string | undefined {
  const lower = name.toLowerCase()
  if (headers[lower] !== undefined) return headers[lower]
  for (const [k, v] of Object.entries(headers)) {
    const kl = k.toLowerCase()
    if (kl === lower || kl === `x-${lower}`) return v
  }
  return undefined
}
