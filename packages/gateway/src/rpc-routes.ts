/**
 * The built-in routes, go-micro v5.30's: `micro api`'s `POST /{service}/{endpoint}` (the
 * `Micro-Endpoint` header may name the endpoint), `GET /` and `GET /{service}`, `/health`, and
 * `/micro/registry`, `/micro/store`, `/micro/broker`; `micro run`'s `/api/{service}/{endpoint}`
 * (also `/api/{service}/{Handler}/{Method}`, as its API page writes them). A streaming endpoint is
 * served over server-sent events (`Accept: text/event-stream`) or a WebSocket on the same paths.
 */
import { MicroError, rawCodec, type Service } from '@micro-ts/core'
import type { WebSocket } from 'ws'
import { EMPTY_OBJECT, type RouteContext, type RouteResult } from './context.js'
import { GATEWAY_ERROR_ID, gatewayErrors, httpStatus, toMicroError } from './errors.js'
import { closeWithError, type Gateway } from './gateway.js'

/** Which built-in routes a gateway serves; each is on unless set to false. */
export interface BuiltInRoutes {
  /** `/api/{service}/{endpoint}` and `GET /api` (`micro run`'s gateway). */
  api?: boolean
  /** `/{service}/{endpoint}`, `GET /{service}` and `GET /` (`micro api`'s). */
  rpc?: boolean
  /** `/health`, `/health/live`, `/health/ready`. */
  health?: boolean
  /** `/micro/registry`, and `/micro/store`, `/micro/broker` when the gateway has a store or broker. */
  framework?: boolean
}

type Ctx = RouteContext<Gateway>

/** go-micro's gateway calls on any method; a GET's query parameters are its request. */
const CALL_METHODS = ['POST', 'GET', 'PUT', 'PATCH', 'DELETE'] as const

export function addBuiltInRoutes(gw: Gateway, routes: BuiltInRoutes): void {
  if (routes.health !== false) {
    gw.route('GET', '/health', (ctx) => health(ctx), 'Health: the gateway and its registry')
    gw.route('GET', '/health/ready', (ctx) => health(ctx), 'Readiness')
    gw.route(
      'GET',
      '/health/live',
      () => ({ body: { status: 'up', checks: [], info: { name: 'gateway' } } }),
      'Liveness',
    )
  }
  if (routes.framework !== false) {
    gw.route('GET', '/micro/registry', (ctx) => listServices(ctx), 'List registered services')
    gw.route(
      'GET',
      '/micro/registry/:name',
      async (ctx) => ({ body: await ctx.gateway.cache.getService(ctx.params.name) }),
      "A service's registry records",
    )
    if (gw.store) {
      gw.route(
        'GET',
        '/micro/store',
        async (ctx) => ({ body: await storeOf(ctx).list(listOptions(ctx)) }),
        'List store keys',
      )
      gw.route('GET', '/micro/store/*key', (ctx) => readRecord(ctx), 'Read a record')
      gw.route('POST', '/micro/store/*key', (ctx) => writeRecord(ctx), 'Write a record')
      gw.route(
        'DELETE',
        '/micro/store/*key',
        async (ctx) => {
          await storeOf(ctx).delete(ctx.params.key)
          return { body: { status: 'ok', key: ctx.params.key } }
        },
        'Delete a record',
      )
    }
    if (gw.broker) gw.route('POST', '/micro/broker/*topic', (ctx) => publish(ctx), 'Publish a message')
  }
  if (routes.api !== false) {
    gw.route('GET', '/api', (ctx) => listServices(ctx), 'List services and endpoints')
    for (const method of CALL_METHODS) {
      gw.route(
        method,
        '/api/:service/*endpoint',
        (ctx) => call(ctx, ctx.params.service, ctx.params.endpoint),
        'Call an endpoint',
      )
    }
    gw.websocket(
      '/api/:service/*endpoint',
      (ctx, ws) => socketStream(ctx, ws, ctx.params.service, ctx.params.endpoint),
      'Stream an endpoint',
    )
  }
  if (routes.rpc !== false) {
    gw.route('GET', '/', (ctx) => listServices(ctx), 'List services and endpoints')
    gw.route('GET', '/:service', (ctx) => describe(ctx, ctx.params.service), 'Describe a service')
    for (const method of CALL_METHODS) {
      gw.route(
        method,
        '/:service/*endpoint',
        (ctx) => call(ctx, ctx.params.service, ctx.params.endpoint),
        'Call an endpoint',
      )
    }
    gw.websocket(
      '/:service/*endpoint',
      (ctx, ws) => socketStream(ctx, ws, ctx.params.service, ctx.params.endpoint),
      'Stream an endpoint',
    )
  }
}

/**
 * `Greeter.Hello` from the path: `Greeter.Hello` as is, `Greeter/Hello` joined, and a lone
 * `hello` as `<Service>.Hello` (go-micro's API handler rule); `Micro-Endpoint` wins over the path.
 */
export function endpointName(ctx: Ctx, service: string, path: string): string {
  const header = ctx.headers['micro-endpoint']
  if (typeof header === 'string' && header) return header
  // The common form, `Greeter.Hello`, as it came.
  if (path.includes('.') && !path.includes('/') && !path.includes('%')) return path
  const parts = path.split('/').filter(Boolean)
  const title = (s: string) => (s ? s[0].toUpperCase() + s.slice(1) : s)
  if (parts.length === 1) {
    if (parts[0].includes('.')) return parts[0]
    return `${title(service.slice(service.lastIndexOf('.') + 1))}.${title(parts[0])}`
  }
  if (parts.length === 2) return `${title(parts[0])}.${title(parts[1])}`
  throw gatewayErrors.notFound(
    `/${service}/${path}: expected /{service}/{Handler.Method} or /{service}/{Handler}/{Method}`,
  )
}

async function call(ctx: Ctx, service: string, path: string): Promise<RouteResult | undefined> {
  const endpoint = endpointName(ctx, service, path)
  const accept = ctx.headers.accept
  if (typeof accept === 'string' && accept.includes('text/event-stream')) {
    await sseStream(ctx, service, endpoint)
    return undefined
  }
  if (ctx.method === 'GET' || ctx.method === 'HEAD')
    return { body: await ctx.gateway.call(service, endpoint, queryBody(ctx), ctx.callOptions()) }
  // A JSON body travels as its bytes and the answer comes back as the service's bytes: checked
  // to be JSON, never parsed into objects and written out again (issue 16).
  const raw = await ctx.jsonBytes()
  if (raw === undefined)
    return { body: await ctx.gateway.call(service, endpoint, await ctx.json(), ctx.callOptions()) }
  const rsp = await ctx.gateway.call(service, endpoint, raw, ctx.callOptions(RAW_JSON))
  if (!(rsp instanceof JsonAnswer)) return { body: rsp }
  return { body: rsp.bytes.length === 0 ? EMPTY_OBJECT : rsp.bytes, headers: JSON_TYPE }
}

/**
 * An answer in JSON, as its bytes. Its own type, because an answer in another content type (a
 * service answering `application/octet-stream`) is decoded by that type's codec, also to bytes,
 * and must keep its own label.
 */
class JsonAnswer {
  constructor(readonly bytes: Uint8Array) {}
}

/** Call options of a call whose request is JSON bytes and whose JSON answer stays bytes. */
const RAW_JSON = {
  codec: { ...rawCodec('application/json'), decode: (bytes: Uint8Array) => new JsonAnswer(bytes) },
}
const JSON_TYPE = { 'Content-Type': 'application/json' }

/** A GET call's request: the query parameters as a JSON object of strings (`timeout` aside). */
function queryBody(ctx: Ctx): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of ctx.query) if (k !== 'timeout') out[k] = v
  return out
}

/** The messages an SSE or a stream request sends first: a JSON array is several, anything else one. */
function openingMessages(body: unknown): unknown[] {
  return Array.isArray(body) ? body : [body]
}

/**
 * A streaming endpoint over server-sent events: the request body's message(s) are sent, the
 * sending side is closed, and each answer is an event (`data: <json>`); the end is an `end`
 * event, a failure an `error` event carrying go-micro's error JSON.
 */
async function sseStream(ctx: Ctx, service: string, endpoint: string): Promise<void> {
  const body = ctx.method === 'GET' ? undefined : await ctx.json()
  const messages =
    body === undefined ||
    (typeof body === 'object' && body !== null && !Array.isArray(body) && Object.keys(body).length === 0)
      ? []
      : openingMessages(body)
  const { timeout, headers } = ctx.callOptions()
  const stream = await ctx.gateway.client.stream(service, endpoint, {
    headers,
    timeout: ctx.headers.timeout || ctx.query.has('timeout') ? timeout : undefined,
  })
  const res = ctx.response
  res.once('close', () => void stream.close().catch(() => {}))
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
  })
  try {
    for (const m of messages) await stream.send(m)
    await stream.closeSend()
    for await (const msg of stream) res.write(`data: ${JSON.stringify(msg)}\n\n`)
    res.write('event: end\ndata: {}\n\n')
  } catch (e) {
    res.write(`event: error\ndata: ${JSON.stringify(toMicroError(e).toJSON())}\n\n`)
  } finally {
    res.end()
  }
}

/**
 * A streaming endpoint over a WebSocket: each text message is a JSON request, each answer a JSON
 * text message; an empty message closes the sending side (the answers keep coming). The stream's
 * end closes the socket (1000); a failure sends `{"error": {id, code, detail, status}}` and closes
 * with 4000 + the HTTP status.
 */
async function socketStream(ctx: Ctx, ws: WebSocket, service: string, path: string): Promise<void> {
  const endpoint = endpointName(ctx, service, path)
  const { headers } = ctx.callOptions()
  const explicit = ctx.headers.timeout || ctx.query.has('timeout')
  const opening = ctx.gateway.client.stream(service, endpoint, {
    headers,
    timeout: explicit ? ctx.timeout() : undefined,
  })
  opening.catch(() => {})
  // Listen at once: a client sends as soon as the socket opens, before the stream is open.
  let sending = Promise.resolve()
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? '' : data.toString()
    sending = sending.then(async () => {
      const stream = await opening
      if (text === '') return stream.closeSend()
      let message: unknown
      try {
        message = JSON.parse(text)
      } catch {
        throw new MicroError(GATEWAY_ERROR_ID, 400, 'a WebSocket message must be JSON text')
      }
      await stream.send(message)
    })
    sending.catch((e: unknown) => {
      closeWithError(ws, toMicroError(e))
      void opening.then((stream) => stream.close()).catch(() => {})
    })
  })
  ws.once('close', () => void opening.then((stream) => stream.close()).catch(() => {}))
  try {
    const stream = await opening
    for await (const msg of stream) {
      if (ws.readyState !== ws.OPEN) break
      ws.send(JSON.stringify(msg))
    }
    if (ws.readyState === ws.OPEN) ws.close(1000, 'end of stream')
  } catch (e) {
    closeWithError(ws, toMicroError(e))
  }
}

/** `micro api`'s list: every service with its endpoint names, sorted. */
async function listServices(ctx: Ctx): Promise<RouteResult> {
  const services = await ctx.gateway.cache.listServices()
  const names = [...new Set(services.map((s) => s.name))].sort()
  const out = await Promise.all(
    names.map(async (name) => {
      const [first] = await ctx.gateway.cache.getService(name).catch(() => [] as Service[])
      const endpoints = (first?.endpoints ?? []).map((e) => e.name)
      return endpoints.length ? { name, endpoints } : { name }
    }),
  )
  return { body: out }
}

/** `micro api`'s description of one service: its first version, endpoints with their types, the node count. */
async function describe(ctx: Ctx, name: string): Promise<RouteResult> {
  let services: Service[]
  try {
    services = await ctx.gateway.cache.getService(name)
  } catch (e) {
    const err = toMicroError(e)
    throw httpStatus(err) === 404 ? gatewayErrors.notFound(`service not found: ${name}`) : err
  }
  const [svc] = services
  return {
    body: {
      name: svc.name,
      version: svc.version,
      endpoints: (svc.endpoints ?? []).map((e) => ({
        name: e.name,
        request: e.request,
        response: e.response,
        metadata: e.metadata,
      })),
      nodes: svc.nodes.length,
    },
  }
}

async function health(ctx: Ctx): Promise<RouteResult> {
  const registry = ctx.gateway.registry
  const started = Date.now()
  let error: string | undefined
  try {
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('no answer within 1s')), 1000).unref(),
    )
    await Promise.race([registry.ping ? registry.ping() : registry.listServices(), timeout])
  } catch (e) {
    error = (e as Error).message
  }
  const check = {
    name: 'registry',
    status: error ? 'down' : 'up',
    duration: `${Date.now() - started}ms`,
    ...(error ? { error } : {}),
  }
  return {
    status: error ? 503 : 200,
    body: { status: check.status, checks: [check], info: { name: 'gateway', registry: registry.name } },
  }
}

function storeOf(ctx: Ctx) {
  const store = ctx.gateway.store
  if (!store) throw gatewayErrors.notFound('no store is configured on this gateway')
  return store
}

function listOptions(ctx: Ctx) {
  const limit = ctx.query.get('limit')
  const offset = ctx.query.get('offset')
  return {
    prefix: ctx.query.get('prefix') ?? undefined,
    suffix: ctx.query.get('suffix') ?? undefined,
    limit: limit === null ? undefined : Number(limit),
    offset: offset === null ? undefined : Number(offset),
  }
}

async function readRecord(ctx: Ctx): Promise<RouteResult> {
  const [record] = await storeOf(ctx).read(ctx.params.key)
  if (!record) throw gatewayErrors.notFound(`key not found: ${ctx.params.key}`)
  return { body: record.value, headers: { 'Content-Type': 'application/json' } }
}

async function writeRecord(ctx: Ctx): Promise<RouteResult> {
  const value = await ctx.body()
  const ttl = ctx.query.get('ttl')
  await storeOf(ctx).write({ key: ctx.params.key, value }, ttl ? { ttl: Number(ttl) } : undefined)
  return { body: { status: 'ok', key: ctx.params.key } }
}

async function publish(ctx: Ctx): Promise<RouteResult> {
  const broker = ctx.gateway.broker
  if (!broker) throw gatewayErrors.notFound('no broker is configured on this gateway')
  const topic = ctx.params.topic
  const body = await ctx.body()
  await ctx.gateway.connectBroker()
  await broker.publish(topic, {
    headers: { ...ctx.forwardedHeaders(), 'Content-Type': 'application/json', 'Micro-Topic': topic },
    body,
  })
  return { body: { status: 'ok', topic } }
}
