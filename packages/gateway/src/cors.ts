/** CORS: off unless configured, since a gateway that answers every origin exposes every service to any web page. */
import type { IncomingMessage } from 'node:http'

export interface CorsOptions {
  /** Allowed origins (`https://app.example.com`), or `*` for any. */
  origins: readonly string[] | '*'
  /** Methods a preflight allows (default GET, POST, PUT, PATCH, DELETE). */
  methods?: readonly string[]
  /** Request headers a preflight allows (default: whatever the preflight asks for). */
  headers?: readonly string[]
  /** Response headers a page may read (default none beyond the CORS-safelisted ones). */
  exposeHeaders?: readonly string[]
  /** Allow cookies and Authorization (never together with `*`: the origin is echoed instead). */
  credentials?: boolean
  /** How long a browser may cache a preflight, seconds (default 600). */
  maxAge?: number
}

const DEFAULT_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']

/** The CORS headers for this request, or undefined when its origin is not allowed (or CORS is off). */
export function corsHeaders(
  options: CorsOptions | undefined,
  req: IncomingMessage,
  preflight: boolean,
): Record<string, string> | undefined {
  const origin = req.headers.origin
  if (!options || !origin) return undefined
  const any = options.origins === '*'
  if (!any && !options.origins.includes(origin)) return undefined
  const out: Record<string, string> = {
    'Access-Control-Allow-Origin': any && !options.credentials ? '*' : origin,
    Vary: 'Origin',
  }
  if (options.credentials) out['Access-Control-Allow-Credentials'] = 'true'
  if (options.exposeHeaders?.length) out['Access-Control-Expose-Headers'] = options.exposeHeaders.join(', ')
  if (preflight) {
    out['Access-Control-Allow-Methods'] = (options.methods ?? DEFAULT_METHODS).join(', ')
    const asked = req.headers['access-control-request-headers']
    const allowed = options.headers?.join(', ') ?? (typeof asked === 'string' ? asked : '')
    if (allowed) out['Access-Control-Allow-Headers'] = allowed
    out['Access-Control-Max-Age'] = String(options.maxAge ?? 600)
  }
  return out
}
