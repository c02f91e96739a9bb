/**
 * The page's files: hand-written HTML, CSS and JavaScript shipped in the package's `public/`
 * folder (nothing to build), read once and served with an ETag and headers that keep every
 * request of the page on its own origin.
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import type { RouteResult } from '@micro-ts/gateway'

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
}

/**
 * Scripts, styles and connections from the page's own origin only: the page cannot load or send
 * anything anywhere else, whatever a service's metadata or answer contains.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
}

interface Asset {
  body: Buffer
  type: string
  etag: string
}

export class Assets {
  private readonly files = new Map<string, Asset>()

  constructor(dir: URL = new URL('../public/', import.meta.url)) {
    for (const name of readdirSync(dir)) {
      const type = TYPES[name.slice(name.lastIndexOf('.') + 1)]
      if (!type) continue
      const body = readFileSync(new URL(name, dir))
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`
      this.files.set(name, { body, type, etag })
    }
  }

  names(): string[] {
    return [...this.files.keys()]
  }

  /** The file as a route answer (304 when the browser has it), or undefined when there is none. */
  serve(name: string, ifNoneMatch: string | undefined): RouteResult | undefined {
    const file = this.files.get(name)
    if (!file) return undefined
    const headers = {
      ...SECURITY_HEADERS,
      'Content-Type': file.type,
      ETag: file.etag,
      // Revalidated on every load: an upgraded package is seen at once, an unchanged one costs a 304.
      'Cache-Control': 'no-cache',
    }
    if (ifNoneMatch === file.etag) return { status: 304, headers }
    return { status: 200, headers, body: file.body }
  }
}
