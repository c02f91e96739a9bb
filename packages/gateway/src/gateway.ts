/**
 * createGateway(): HTTP+JSON into RPC. A Node request handler (`gateway.handler`, mountable in
 * `node:http`, Express or Connect), a WebSocket upgrade handler (`gateway.upgrade`), and a route
 * table others extend: `gateway.route('GET', '/dashboard', handler)` is how a dashboard or an MCP
 * endpoint is added beside the built-in go-micro routes.
 */
import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import {
  type Broker,
  type CallOptions,
  type Client,
  createRegistryCache,
  type Logger,
  type Registry,
  type Store,
  silentLogger,
} from '@micro-ts/core'
import { formatAddress, parseAddress } from '@micro-ts/core/plugin'
import { type WebSocket, WebSocketServer } from 'ws'
import { RouteContext, type RouteResult } from './context.js'
import { type CorsOptions, corsHeaders } from './cors.js'
import { GATEWAY_ERROR_ID, gatewayErrors, httpStatus, toMicroError, writeError } from './errors.js'
import { type RouteDefinition, type RouteMethod, RouteTable } from './routes.js'
import { addBuiltInRoutes, type BuiltInRoutes } from './rpc-routes.js'

export type { RouteResult }

/** A route's handler: return the answer, or write to `ctx.response` yourself and return nothing. */
export type RouteHandler = (
  ctx: RouteContext<Gateway>,
  // biome-ignore lint/suspicious/noConfusingVoidType: a handler that writes the answer itself returns nothing
) => Promise<RouteResult | undefined | void> | RouteResult | undefined | void

/** A WebSocket route's handler, given the accepted socket. */
export type SocketHandler = (ctx: RouteContext<Gateway>, socket: WebSocket) => Promise<void> | void

export interface GatewayOptions {
  /** Where services are found (listing, describing). */
  registry: Registry
  /** Makes the calls; its selector, retries and transport are the gateway's. */
  client: Client
  /** For `POST /micro/broker/{topic}` (off without one). */
  broker?: Broker
  /** For `/micro/store/{key}` (off without one). */
  store?: Store
  /**
   * Registry lookups for listing and describing (default: a RegistryCache over `registry`, kept
   * fresh by its watch and closed with the gateway).
   */
  cache?: Registry
  /** Largest request body, bytes (10 MiB, a service's own default); a 413 past it. */
  maxBodySize?: number
  /** Deadline of a call whose caller sends none, ms (default: the client's own, 30 s). */
  timeout?: number
  /** The longest deadline a caller may ask for, ms (default: no cap). */
  maxTimeout?: number
  /** Cross-origin requests from web pages: off unless given. */
  cors?: CorsOptions
  /**
   * Which request headers travel to the service as go-micro context metadata (default: all but
   * hop-by-hop and framing headers, `Cookie`, `Micro-*` routing headers and `Timeout`).
   */
  forwardHeader?: (name: string) => boolean
  /** The built-in routes to serve (default: every one). */
  routes?: BuiltInRoutes
  /** Serve under this path prefix (`/gateway`): requests outside it are not the gateway's. */
  prefix?: string
  /** How long close() waits for requests in flight, ms (10 s). */
  drainTimeout?: number
  logger?: Logger
}

const NOT_FORWARDED = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
  'content-type',
  'accept',
  'accept-encoding',
  'cookie',
  'timeout',
  'expect',
])

export function defaultForwardHeader(name: string): boolean {
  return (
    !NOT_FORWARDED.has(name) &&
    !name.startsWith('micro-') &&
    !name.startsWith('x-micro-') &&
    !name.startsWith('sec-websocket')
  )
}

export class Gateway {
  readonly registry: Registry
  readonly client: Client
  readonly broker?: Broker
  readonly store?: Store
  /** The registry as the gateway reads it: cached, fresh from the watch. */
  readonly cache: Registry
  readonly routes = new RouteTable<RouteHandler>()
  readonly sockets = new RouteTable<SocketHandler>()
  readonly maxBodySize: number
  readonly timeout?: number
  readonly maxTimeout?: number
  readonly logger: Logger
  private readonly options: GatewayOptions
  private readonly prefix: string
  private readonly ownCache: boolean
  private readonly wss: WebSocketServer
  private server?: Server
  private inflight = 0
  private closing?: Promise<void>
  private brokerConnected?: Promise<void>

  constructor(options: GatewayOptions) {
    if (!options?.registry || !options.client)
      throw new TypeError('createGateway(): a registry and a client are required')
    this.options = options
    this.registry = options.registry
    this.client = options.client
    this.broker = options.broker
    this.store = options.store
    this.ownCache = !options.cache
    this.cache = options.cache ?? createRegistryCache(options.registry, { logger: options.logger })
    this.maxBodySize = options.maxBodySize ?? 10 * 1024 * 1024
    this.timeout = options.timeout
    this.maxTimeout = options.maxTimeout
    this.logger = options.logger ?? silentLogger
    this.prefix = (options.prefix ?? '').replace(/\/+$/, '')
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.maxBodySize })
    addBuiltInRoutes(this, options.routes ?? {})
  }

  /** Add a route (`route('GET', '/services/:name', handler)`); more specific patterns win. */
  route(method: RouteMethod, path: string, handler: RouteHandler, description?: string): this {
    this.routes.add({ method, path, handler, description })
    return this
  }

  /** Add a WebSocket route: upgrades on `path` are accepted and handed to `handler`. */
  websocket(path: string, handler: SocketHandler, description?: string): this {
    this.sockets.add({ method: 'GET', path, handler, description })
    return this
  }

  /** Every HTTP route, most specific first (`micro api` prints them). */
  listRoutes(): RouteDefinition<RouteHandler | SocketHandler>[] {
    return [
      ...this.routes.list(),
      ...this.sockets.list().map((r) => ({
        ...r,
        method: 'GET' as const,
        description: `${r.description ?? ''} (WebSocket)`.trim(),
      })),
    ]
  }

  forwardHeader(name: string): boolean {
    return (this.options.forwardHeader ?? defaultForwardHeader)(name)
  }

  /**
   * Call `endpoint` of `service` for a request: the primitive the built-in routes use, and what
   * a dashboard or an MCP endpoint mounted on the gateway calls with the caller's options.
   */
  call(service: string, endpoint: string, body: unknown, options: CallOptions = {}): Promise<unknown> {
    return this.client.call(service, endpoint, body, options)
  }

  /** Connects the broker once, on first use. */
  connectBroker(): Promise<void> {
    const broker = this.broker
    if (!broker) return Promise.reject(gatewayErrors.notFound('no broker is configured on this gateway'))
    this.brokerConnected ??= broker.connect().catch((e) => {
      this.brokerConnected = undefined
      throw e
    })
    return this.brokerConnected
  }

  /**
   * The Node request handler. `next`, when given (Express, Connect), is called for requests
   * outside the gateway's prefix; without it they get a 404.
   */
  readonly handler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void => {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    let path = q < 0 ? url : url.slice(0, q)
    if (this.prefix) {
      if (path !== this.prefix && !path.startsWith(`${this.prefix}/`)) {
        if (next) next()
        else writeError(res, gatewayErrors.notFound(`${path} is outside ${this.prefix}`))
        return
      }
      path = path.slice(this.prefix.length) || '/'
    }
    void this.serve(req, res, path, q < 0 ? '' : url.slice(q + 1))
  }

  private async serve(req: IncomingMessage, res: ServerResponse, path: string, query: string): Promise<void> {
    const method = req.method ?? 'GET'
    const preflight = method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined
    const cors = corsHeaders(this.options.cors, req, preflight)
    if (preflight && cors) {
      res.writeHead(204, cors)
      res.end()
      return
    }
    if (this.closing) {
      writeError(res, gatewayErrors.unavailable('the gateway is shutting down'), {
        ...cors,
        Connection: 'close',
      })
      return
    }
    this.inflight++
    const ctx = new RouteContext<Gateway>(this, req, res, path, query)
    try {
      const found = this.routes.match(method, path)
      if (!('route' in found)) {
        throw found.allowed.length
          ? gatewayErrors.methodNotAllowed(`${method} ${path}: use ${found.allowed.join(', ')}`)
          : gatewayErrors.notFound(`no route for ${method} ${path}`)
      }
      ctx.params = found.params
      const result = await found.route.handler(ctx)
      if (result && !res.headersSent) send(res, result, cors)
      else if (!res.headersSent && !res.writableEnded) send(res, { status: 204 }, cors)
    } catch (e) {
      const err = toMicroError(e)
      const status = httpStatus(err)
      if (status >= 500 && err.id === GATEWAY_ERROR_ID)
        this.logger.warn({ path, err: e }, `gateway: ${err.detail}`)
      writeError(res, err, status === 413 ? { ...cors, Connection: 'close' } : cors)
    } finally {
      this.inflight--
    }
  }

  /** The Node `upgrade` handler: WebSocket routes, with the same origin rule as CORS. */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    let path = q < 0 ? url : url.slice(0, q)
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    if (this.prefix) {
      if (!path.startsWith(`${this.prefix}/`)) {
        refuse(404, 'Not Found')
        return
      }
      path = path.slice(this.prefix.length)
    }
    if (this.closing) {
      refuse(503, 'Service Unavailable')
      return
    }
    if (!this.originAllowed(req)) {
      refuse(403, 'Forbidden')
      return
    }
    const found = this.sockets.match('GET', path)
    if (!('route' in found)) {
      refuse(404, 'Not Found')
      return
    }
    const handler = found.route.handler
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // A socket has no HTTP answer: the context's response is a detached one nobody sends.
      const res = new ServerResponse(req)
      const ctx = new RouteContext<Gateway>(this, req, res, path, q < 0 ? '' : url.slice(q + 1))
      ctx.params = found.params
      Promise.resolve(handler(ctx, ws)).catch((e: unknown) => closeWithError(ws, toMicroError(e)))
    })
  }

  /**
   * A WebSocket needs no CORS, so a page on any site could open one to the gateway with the
   * user's cookies (cross-site WebSocket hijacking): only same-host pages and CORS-allowed
   * origins may.
   */
  private originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin
    if (!origin) return true
    if (corsHeaders(this.options.cors, req, false)) return true
    try {
      return new URL(origin).host === req.headers.host
    } catch {
      return false
    }
  }

  /** Listen on `address` (`:8080`, `127.0.0.1:0`); resolves to the bound `host:port`. */
  async listen(address = ':8080'): Promise<string> {
    if (this.server) throw new Error('gateway: already listening')
    const { host, port } = parseAddress(address, GATEWAY_ERROR_ID)
    const server = createServer(this.handler)
    server.on('upgrade', this.upgrade)
    // Keep-alive longer than common load balancers' (60 s) so they never reuse a closed socket.
    server.keepAliveTimeout = 65_000
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host || undefined, () => {
        server.off('error', reject)
        resolve()
      })
    })
    this.server = server
    return this.address
  }

  /** The bound `host:port` once listening, else ''. */
  get address(): string {
    const a = this.server?.address()
    if (!a || typeof a === 'string') return a ?? ''
    return formatAddress(a.address, a.port)
  }

  /**
   * Stop: refuse new requests (503), wait for those in flight up to `drainTimeout`, close the
   * WebSockets (1001, going away) and the listener, and the cache the gateway made.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const server = this.server
      server?.close()
      server?.closeIdleConnections()
      const until = Date.now() + (this.options.drainTimeout ?? 10_000)
      while (this.inflight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
      for (const ws of this.wss.clients) ws.close(1001, 'gateway shutting down')
      server?.closeAllConnections()
      this.wss.close()
      if (this.ownCache) await this.cache.close()
    })()
    return this.closing
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/** Bytes up to this size go out as a latin1 string: Node then writes them with the head, one chunk. */
const ONE_WRITE_MAX = 4 * 1024

function send(res: ServerResponse, result: RouteResult, cors: Record<string, string> | undefined): void {
  const body = result.body
  let bytes: Buffer | string | undefined
  let length = 0
  let latin1 = false
  let type = 'application/json'
  if (body === undefined) bytes = undefined
  else if (body instanceof Uint8Array) {
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength)
    length = buf.length
    latin1 = length <= ONE_WRITE_MAX
    bytes = latin1 ? buf.toString('latin1') : buf
    type = 'application/octet-stream'
  } else {
    bytes = typeof body === 'string' ? body : (JSON.stringify(body) ?? '{}')
    if (typeof body === 'string') type = 'text/plain; charset=utf-8'
    length = Buffer.byteLength(bytes)
  }
  // Node's flat [name, value, ...] form: no header object to build and walk.
  const head: string[] = []
  let typed = false
  // The route's own headers win over CORS's of the same name.
  const extra = cors && result.headers ? { ...cors, ...result.headers } : (result.headers ?? cors)
  for (const k in extra) {
    if (!typed && k.toLowerCase() === 'content-type') typed = true
    head.push(k, extra[k])
  }
  if (bytes !== undefined) {
    if (!typed) head.push('Content-Type', type)
    head.push('Content-Length', String(length))
  }
  res.writeHead(result.status ?? 200, head)
  if (latin1) res.end(bytes, 'latin1')
  else res.end(bytes)
}

/** A failed WebSocket: the error JSON as the last message, then close code 4000 + the HTTP status. */
export function closeWithError(ws: WebSocket, err: ReturnType<typeof toMicroError>): void {
  if (ws.readyState === ws.OPEN) {
    ws.send(JSON.stringify({ error: err.toJSON() }))
    ws.close(4000 + httpStatus(err), Buffer.from(err.detail).subarray(0, 120).toString())
  }
}

/** Make a gateway; `listen()` it, or mount `gateway.handler` (and `gateway.upgrade`) in your own server. */
export function createGateway(options: GatewayOptions): Gateway {
  return new Gateway(options)
}
