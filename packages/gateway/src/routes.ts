/**
 * The gateway's route table: `METHOD /path` patterns with `:name` segments and a trailing
 * `*name` that takes the rest of the path. The most specific pattern wins (more literal
 * segments first, a rest pattern last), then the one added first, so a route added by a user
 * or by a package mounted on the gateway (a dashboard, an MCP endpoint) shadows the built-in
 * catch-alls without any ordering rules to remember.
 */

/** An HTTP method, or `*` for any. */
export type RouteMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS' | '*'

export interface RouteDefinition<H> {
  method: RouteMethod
  /** `/health`, `/micro/registry/:name`, `/api/:service/*endpoint`. */
  path: string
  handler: H
  /** Shown in the route listing (`micro api` prints it). */
  description?: string
}

interface Compiled<H> extends RouteDefinition<H> {
  segments: Segment[]
  score: number
  order: number
}

type Segment =
  | { kind: 'literal'; value: string }
  | { kind: 'param'; name: string }
  | { kind: 'rest'; name: string }

export interface RouteMatch<H> {
  route: RouteDefinition<H>
  /** Decoded path parameters (`rest` parameters keep their `/`). */
  params: Record<string, string>
}

/** Paths whose match is remembered; past it the memory starts again (random paths cannot grow it). */
const MAX_CACHED = 1024

export class RouteTable<H> {
  private readonly routes: Compiled<H>[] = []
  private order = 0
  /** `METHOD path` → its match: the same few paths come on every request. */
  private readonly cache = new Map<string, RouteMatch<H> | { allowed: string[] }>()

  add(definition: RouteDefinition<H>): this {
    const segments = parsePattern(definition.path)
    const literals = segments.filter((s) => s.kind === 'literal').length
    const rest = segments.some((s) => s.kind === 'rest')
    // Literal segments count most; a rest pattern goes after every fixed-length one of its length.
    const score = literals * 1000 + (rest ? 0 : 500) + segments.length
    this.routes.push({ ...definition, segments, score, order: this.order++ })
    this.routes.sort((a, b) => b.score - a.score || a.order - b.order)
    this.cache.clear()
    return this
  }

  /** Every route, most specific first. */
  list(): RouteDefinition<H>[] {
    return this.routes.map(({ method, path, handler, description }) => ({
      method,
      path,
      handler,
      description,
    }))
  }

  /**
   * The route for `method` and `path`; `allowed` lists the methods of the routes whose path
   * matched when none has this method (a 405), and is empty when no path matched (a 404).
   */
  match(method: string, path: string): RouteMatch<H> | { allowed: string[] } {
    const key = `${method} ${path}`
    let found = this.cache.get(key)
    if (!found) {
      found = this.find(method, path)
      if (this.cache.size >= MAX_CACHED) this.cache.clear()
      this.cache.set(key, found)
    }
    // A copy of the parameters: a handler may change its own.
    return 'route' in found ? { route: found.route, params: { ...found.params } } : found
  }

  private find(method: string, path: string): RouteMatch<H> | { allowed: string[] } {
    const parts = splitPath(path)
    const allowed = new Set<string>()
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts)
      if (!params) continue
      if (route.method === '*' || route.method === method || (method === 'HEAD' && route.method === 'GET')) {
        return { route, params }
      }
      allowed.add(route.method)
    }
    return { allowed: [...allowed] }
  }
}

function parsePattern(path: string): Segment[] {
  if (!path.startsWith('/')) throw new TypeError(`route ${path}: a path starts with /`)
  const parts = path.split('/').filter(Boolean)
  return parts.map((p, i): Segment => {
    if (p.startsWith(':')) return { kind: 'param', name: p.slice(1) }
    if (p.startsWith('*')) {
      if (i !== parts.length - 1)
        throw new TypeError(`route ${path}: *${p.slice(1)} must be the last segment`)
      return { kind: 'rest', name: p.slice(1) }
    }
    return { kind: 'literal', value: p }
  })
}

function splitPath(path: string): string[] {
  return path.split('/').filter(Boolean)
}

function matchSegments(segments: Segment[], parts: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {}
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]
    if (s.kind === 'rest') {
      if (i >= parts.length) return undefined
      params[s.name] = parts.slice(i).map(decode).join('/')
      return params
    }
    if (i >= parts.length) return undefined
    if (s.kind === 'literal') {
      if (s.value !== parts[i]) return undefined
    } else {
      params[s.name] = decode(parts[i])
    }
  }
  return parts.length === segments.length ? params : undefined
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}
