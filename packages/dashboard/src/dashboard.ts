/**
 * mountDashboard(): the web dashboard as routes of a gateway. The page (`GET /dashboard/`) and
 * its JSON API under `/dashboard/api/`: the services, a server-sent event stream of registry
 * changes, node health, and calls made through the gateway's client. The page talks to these
 * routes only, so nothing it shows or sends leaves its own origin.
 */
import type { IncomingMessage } from 'node:http'
import { errors, type Logger, MicroError, parseDuration } from '@micro-ts/core'
import {
  type CatalogChange,
  createCatalog,
  type Gateway,
  httpStatus,
  type RouteContext,
  type RouteResult,
  type ServiceCatalog,
} from '@micro-ts/gateway'
import { Assets, SECURITY_HEADERS } from './assets.js'
import { HealthProbe, type HealthProbeOptions, type NodeHealth } from './health.js'
import { serviceView } from './view.js'

export const DASHBOARD_ERROR_ID = 'go.micro.dashboard'

export interface DashboardOptions {
  /** Where the page is served (default `/dashboard`); its API is under `<path>/api`. */
  path?: string
  /** The page's title (default `Micro`). */
  title?: string
  /** Most event streams (open pages) at once; past it a page falls back to reloading (default 256). */
  maxClients?: number
  /** Node health probes. */
  health?: HealthProbeOptions
  /** The registry view (default: a catalog of the gateway's registry, closed with the dashboard). */
  catalog?: ServiceCatalog
  logger?: Logger
}

/** A mounted dashboard: `close()` ends its event streams and its registry watch. */
export interface Dashboard {
  /** The page's path on the gateway, with its trailing slash (`/dashboard/`). */
  readonly path: string
  readonly catalog: ServiceCatalog
  close(): Promise<void>
}

type Ctx = RouteContext<Gateway>

const HEARTBEAT_MS = 15_000

/** Add the dashboard's routes to `gateway`. */
export function mountDashboard(gateway: Gateway, options: DashboardOptions = {}): Dashboard {
  const base = `/${(options.path ?? '/dashboard').replace(/^\/+|\/+$/g, '')}`.replace(/^\/$/, '')
  if (/[?#*:]/.test(base)) throw new TypeError(`mountDashboard(): path ${options.path} must be a plain path`)
  const logger = options.logger ?? gateway.logger
  const ownCatalog = !options.catalog
  const catalog = options.catalog ?? createCatalog(gateway.registry, { logger })
  void catalog.start()
  const assets = new Assets()
  const probe = new HealthProbe(options.health)
  const maxClients = options.maxClients ?? 256
  const streams = new Set<() => void>()
  const title = options.title ?? 'Micro'

  const page = (ctx: Ctx): RouteResult => {
    // Relative asset and API URLs need the trailing slash; a gateway mounted under a prefix keeps it.
    const url = ctx.request.url ?? '/'
    const path = url.split('?')[0]
    if (!path.endsWith('/')) return { status: 308, headers: { Location: `${path}/`, ...SECURITY_HEADERS } }
    const answer = assets.serve('index.html', header(ctx.request, 'if-none-match'))
    if (!answer) throw errors.internalServerError(DASHBOARD_ERROR_ID, 'the dashboard page is missing')
    if (answer.body instanceof Buffer) {
      answer.body = answer.body.toString('utf8').replaceAll('{{title}}', escapeHtml(title))
    }
    return answer
  }

  gateway.route('GET', base || '/', page, 'The dashboard')
  for (const name of assets.names()) {
    if (name === 'index.html') continue
    gateway.route('GET', `${base}/${name}`, (ctx) => assets.serve(name, header(ctx.request, 'if-none-match')))
  }

  gateway.route(
    'GET',
    `${base}/api/services`,
    async () => {
      await catalog.start()
      return json(snapshot(catalog))
    },
    'Dashboard: every service with its versions, nodes and endpoints',
  )

  gateway.route(
    'GET',
    `${base}/api/events`,
    async (ctx) => {
      if (streams.size >= maxClients) {
        throw errors.serviceUnavailable(DASHBOARD_ERROR_ID, `too many open dashboards (${maxClients})`)
      }
      await catalog.start()
      const res = ctx.response
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        'X-Accel-Buffering': 'no',
      })
      const send = (event: string, data: unknown) =>
        res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
      // A page that lost its stream reconnects after 2 s and starts from a fresh snapshot.
      res.write('retry: 2000\n\n')
      send('snapshot', snapshot(catalog))
      const unsubscribe = catalog.onChange((change: CatalogChange) =>
        send('service', serviceView(change.name, change.services)),
      )
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS)
      heartbeat.unref()
      const stop = () => {
        clearInterval(heartbeat)
        unsubscribe()
        streams.delete(stop)
        if (!res.writableEnded) res.end()
      }
      streams.add(stop)
      res.once('close', stop)
      // The handler returns with the stream open: the gateway does not count it as a request in flight.
      return undefined
    },
    'Dashboard: registry changes as server-sent events',
  )

  gateway.route(
    'GET',
    `${base}/api/health/:service`,
    async (ctx) => {
      await catalog.start()
      const name = ctx.params.service
      const services = catalog.get(name)
      if (!services.length) throw errors.notFound(DASHBOARD_ERROR_ID, `service not found: ${name}`)
      const nodes: NodeHealth[] = await Promise.all(
        services.flatMap((s) =>
          s.nodes.map((n) => probe.check(n).then((h) => ({ ...h, version: s.version }))),
        ),
      )
      return json({ service: name, nodes })
    },
    "Dashboard: health of a service's nodes",
  )

  gateway.route(
    'POST',
    `${base}/api/call`,
    async (ctx) => {
      sameOrigin(ctx)
      const type = header(ctx.request, 'content-type') ?? ''
      if (type.split(';')[0].trim().toLowerCase() !== 'application/json') {
        throw errors.unsupportedMediaType(DASHBOARD_ERROR_ID, 'send the call as application/json')
      }
      const call = readCall(await ctx.json())
      await catalog.start()
      const services = catalog.get(call.service)
      if (call.address) {
        const known = services.some((s) => s.nodes.some((n) => n.address === call.address))
        if (!known) {
          throw errors.badRequest(DASHBOARD_ERROR_ID, `${call.address} is not a node of ${call.service}`)
        }
      }
      let timeout = call.timeout ?? ctx.timeout()
      const max = gateway.maxTimeout
      if (max !== undefined && (timeout === undefined || timeout > max)) timeout = max
      const started = Date.now()
      try {
        const response = await gateway.call(call.service, call.endpoint, call.request, {
          headers: call.headers,
          signal: ctx.signal,
          ...(timeout !== undefined ? { timeout } : {}),
          ...(call.address ? { address: call.address } : {}),
        })
        return json({ response, duration_ms: Date.now() - started })
      } catch (e) {
        const err = MicroError.from(e, DASHBOARD_ERROR_ID)
        return {
          ...json({ error: err.toJSON(), duration_ms: Date.now() - started }),
          status: httpStatus(err),
        }
      }
    },
    'Dashboard: call an endpoint',
  )

  return {
    path: `${base}/`,
    catalog,
    async close() {
      for (const stop of [...streams]) stop()
      if (ownCatalog) await catalog.close()
    },
  }
}

function snapshot(catalog: ServiceCatalog) {
  return {
    registry: catalog.registry.name,
    ...(catalog.lastError ? { error: catalog.lastError.message } : {}),
    services: catalog.list().map((c) => serviceView(c.name, c.services)),
  }
}

function json(body: unknown): RouteResult {
  return { status: 200, headers: { ...SECURITY_HEADERS, 'Cache-Control': 'no-store' }, body }
}

interface CallRequest {
  service: string
  endpoint: string
  request: unknown
  timeout?: number
  headers?: Record<string, string>
  address?: string
}

/** The page's call: `{service, endpoint, request, timeout?, headers?, address?}`, each checked. */
function readCall(body: unknown): CallRequest {
  const bad = (detail: string) => errors.badRequest(DASHBOARD_ERROR_ID, detail)
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw bad('the call must be a JSON object')
  const b = body as Record<string, unknown>
  if (typeof b.service !== 'string' || !b.service) throw bad('service must be a non-empty string')
  if (typeof b.endpoint !== 'string' || !b.endpoint) throw bad('endpoint must be a non-empty string')
  const out: CallRequest = { service: b.service, endpoint: b.endpoint, request: b.request ?? {} }
  if (b.timeout !== undefined && b.timeout !== '') {
    let ms: number
    try {
      ms = typeof b.timeout === 'number' ? b.timeout : parseDuration(String(b.timeout))
    } catch (e) {
      throw bad(`timeout: ${(e as Error).message}`)
    }
    if (!Number.isFinite(ms) || ms <= 0) throw bad('timeout must be a positive duration (5s, 300ms, or ms)')
    out.timeout = ms
  }
  if (b.headers !== undefined) {
    if (typeof b.headers !== 'object' || b.headers === null || Array.isArray(b.headers)) {
      throw bad('headers must be an object of strings')
    }
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(b.headers)) {
      if (typeof v !== 'string') throw bad(`header ${k} must be a string`)
      headers[k.toLowerCase()] = v
    }
    out.headers = headers
  }
  if (b.address !== undefined) {
    if (typeof b.address !== 'string') throw bad('address must be a string')
    out.address = b.address
  }
  return out
}

/**
 * Calls change things: a page on another site must not make the user's browser send one. The
 * JSON content type already makes a cross-site fetch ask first (and the gateway allows no CORS
 * unless told); the Origin check also refuses it where CORS was opened for other routes.
 */
function sameOrigin(ctx: Ctx): void {
  const origin = header(ctx.request, 'origin')
  if (!origin) return
  let host: string | undefined
  try {
    host = new URL(origin).host
  } catch {
    // an unparseable Origin is refused below
  }
  if (host !== header(ctx.request, 'host')) {
    throw errors.forbidden(
      DASHBOARD_ERROR_ID,
      `calls from ${origin} are refused: the dashboard calls from its own page only`,
    )
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v[0] : v
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  )
}
