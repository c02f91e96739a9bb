/**
 * `/mcp` on the gateway: MCP's streamable HTTP transport (the SDK's), one session per client,
 * behind an optional bearer token. POST carries the client's requests, GET is the stream on which
 * the server tells the client that the tool list changed, DELETE ends the session.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { Gateway, RouteContext, RouteResult } from '@micro-ts/gateway'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js'
import { createMcpGateway, type McpGateway, type McpGatewayOptions } from './mcp.js'

export interface McpHttpOptions extends Partial<Omit<McpGatewayOptions, 'registry' | 'client'>> {
  /** Where the endpoint is (default `/mcp`). */
  path?: string
  /**
   * Every request must carry `Authorization: Bearer <token>` (401 otherwise). Without one the
   * endpoint is open to whoever reaches the gateway: give one unless it listens on loopback only.
   */
  token?: string
  /** Serve this gateway's tools (default: one made from the gateway's registry and client). */
  mcp?: McpGateway
  /** Most sessions at once; past it a new client gets a 503 (default 1000). */
  maxSessions?: number
  /** A session nobody used for this long, with no stream open, is closed, ms (default 30 min). */
  idleTimeout?: number
  /** Web pages on these origins (`https://app.example`) may call too; other origins get a 403. */
  allowedOrigins?: readonly string[]
}

/** The mounted endpoint: `close()` ends every session (and the MCP gateway it made). */
export interface McpEndpoint {
  readonly path: string
  readonly mcp: McpGateway
  /** Sessions open now. */
  readonly sessions: number
  close(): Promise<void>
}

interface Session {
  transport: StreamableHTTPServerTransport
  close(): Promise<void>
  /** Requests and streams open now. */
  active: number
  seen: number
}

type Ctx = RouteContext<Gateway>

/** Add `/mcp` (POST, GET, DELETE) to `gateway`. */
export function mountMcp(gateway: Gateway, options: McpHttpOptions = {}): McpEndpoint {
  const path = `/${(options.path ?? '/mcp').replace(/^\/+|\/+$/g, '')}`
  if (path === '/' || /[?#*:]/.test(path))
    throw new TypeError(`mountMcp(): path ${options.path} must be a plain path`)
  const ownGateway = !options.mcp
  const mcp =
    options.mcp ??
    createMcpGateway({
      ...options,
      registry: gateway.registry,
      client: gateway.client,
      timeout: options.timeout ?? gateway.timeout,
      maxTimeout: options.maxTimeout ?? gateway.maxTimeout,
      logger: options.logger ?? gateway.logger,
    })
  void mcp.start()
  const token = options.token ? digest(options.token) : undefined
  const maxSessions = options.maxSessions ?? 1000
  const idleTimeout = options.idleTimeout ?? 30 * 60_000
  const allowedOrigins = new Set(options.allowedOrigins ?? [])
  const sessions = new Map<string, Session>()
  let pending = 0

  const sweep = setInterval(
    () => {
      const now = Date.now()
      for (const s of sessions.values()) if (s.active === 0 && now - s.seen > idleTimeout) void s.close()
    },
    Math.min(60_000, idleTimeout),
  )
  sweep.unref()

  const openSession = (): Session => {
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, session)
      },
    })
    const server = mcp.createServer()
    const forget = server.onclose
    server.onclose = () => {
      forget?.()
      if (transport.sessionId) sessions.delete(transport.sessionId)
    }
    const session: Session = {
      transport,
      active: 0,
      seen: Date.now(),
      close: () => server.close().catch(() => {}),
    }
    void server.connect(transport)
    return session
  }

  const handler = async (ctx: Ctx): Promise<RouteResult | undefined> => {
    const refused = authorize(ctx, token) ?? checkOrigin(ctx, allowedOrigins)
    if (refused) return refused
    let body: unknown
    if (ctx.method === 'POST') {
      const bytes = await ctx.body()
      try {
        body = JSON.parse(bytes.toString('utf8'))
      } catch {
        return rpcError(400, ErrorCode.ParseError, 'Parse error: the request body is not JSON')
      }
    }
    const id = ctx.headers['mcp-session-id']
    let session = typeof id === 'string' ? sessions.get(id) : undefined
    if (id !== undefined && !session) return rpcError(404, -32001, 'Session not found: initialize a new one')
    let fresh = false
    if (!session) {
      if (ctx.method !== 'POST' || !isInitialize(body)) {
        return rpcError(400, ErrorCode.InvalidRequest, 'Bad Request: no session; send initialize first')
      }
      if (sessions.size + pending >= maxSessions) {
        return rpcError(503, ErrorCode.InternalError, `Too many sessions (${maxSessions}); try again later`)
      }
      session = openSession()
      fresh = true
      pending++
    }
    const s = session
    s.active++
    s.seen = Date.now()
    ctx.response.once('close', () => {
      s.active--
      s.seen = Date.now()
    })
    try {
      await serve(s.transport, ctx, body)
    } finally {
      if (fresh) {
        pending--
        // An initialize the SDK refused made no session: nothing will ever use this one.
        if (!s.transport.sessionId) void s.close()
      }
    }
    return undefined
  }

  gateway.route('POST', path, handler, 'MCP (streamable HTTP): requests')
  gateway.route('GET', path, handler, 'MCP (streamable HTTP): server notifications')
  gateway.route('DELETE', path, handler, 'MCP (streamable HTTP): end a session')

  return {
    path,
    mcp,
    get sessions() {
      return sessions.size
    },
    async close() {
      clearInterval(sweep)
      await Promise.all([...sessions.values()].map((s) => s.close()))
      sessions.clear()
      if (ownGateway) await mcp.close()
    },
  }
}

/**
 * Hand the request to the SDK's transport. A POST is done when its answer is; a GET is the
 * session's event stream, which stays open: the route is done once its headers are out, so the
 * gateway does not count an idle stream as a request in flight while it drains.
 */
async function serve(transport: StreamableHTTPServerTransport, ctx: Ctx, body: unknown): Promise<void> {
  const handling = transport.handleRequest(ctx.request, ctx.response, body)
  if (ctx.method !== 'GET') return handling
  await Promise.race([handling, headersWritten(ctx.response)])
}

function headersWritten(res: ServerResponse): Promise<void> {
  if (res.headersSent) return Promise.resolve()
  return new Promise((resolve) => {
    const writeHead = res.writeHead as (...args: unknown[]) => ServerResponse
    res.writeHead = ((...args: unknown[]) => {
      res.writeHead = writeHead as ServerResponse['writeHead']
      const out = writeHead.apply(res, args)
      resolve()
      return out
    }) as ServerResponse['writeHead']
    res.once('close', () => resolve())
  })
}

function isInitialize(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body]
  return messages.some(
    (m) => typeof m === 'object' && m !== null && (m as { method?: unknown }).method === 'initialize',
  )
}

function rpcError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): RouteResult {
  return { status, headers, body: { jsonrpc: '2.0', error: { code, message }, id: null } }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/** The bearer token, compared in constant time (as digests, so its length does not show either). */
function authorize(ctx: Ctx, token: Buffer | undefined): RouteResult | undefined {
  if (!token) return undefined
  const given = ctx.headers.authorization
  const match = typeof given === 'string' ? /^Bearer\s+(.+)$/i.exec(given.trim()) : null
  if (match && timingSafeEqual(digest(match[1]), token)) return undefined
  return rpcError(
    401,
    ErrorCode.InvalidRequest,
    match
      ? 'Unauthorized: the bearer token is not right'
      : 'Unauthorized: send Authorization: Bearer <token>',
    {
      'WWW-Authenticate': match ? 'Bearer realm="micro", error="invalid_token"' : 'Bearer realm="micro"',
    },
  )
}

/**
 * A web page may not talk to the endpoint from another site (DNS rebinding against a gateway on
 * localhost, say): an Origin other than the gateway's own host, or one allowed, is refused.
 */
function checkOrigin(ctx: Ctx, allowed: ReadonlySet<string>): RouteResult | undefined {
  const origin = ctx.headers.origin
  if (!origin || allowed.has(origin)) return undefined
  try {
    if (new URL(origin).host === ctx.headers.host) return undefined
  } catch {
    // refused below
  }
  return rpcError(403, ErrorCode.InvalidRequest, `Forbidden: requests from ${origin} are not allowed`)
}
