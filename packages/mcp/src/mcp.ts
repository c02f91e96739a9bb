/**
 * The MCP gateway: the registry's endpoints as Model Context Protocol tools, kept current from
 * the registry's watch (clients are told with `notifications/tools/list_changed`), and tool calls
 * carried into RPC calls with the caller's deadline and cancellation. One McpGateway serves any
 * number of MCP sessions, over stdio (`serveStdio`) or streamable HTTP on the gateway (`mountMcp`).
 */
import { createRequire } from 'node:module'
import {
  type Client,
  errors,
  type Logger,
  MicroError,
  parseDuration,
  type Registry,
  silentLogger,
} from '@micro-ts/core'
import { parseTimeoutHeader } from '@micro-ts/core/plugin'
import { createCatalog, type ServiceCatalog } from '@micro-ts/gateway'
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type RequestInfo,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js'
import { type RateLimit, RateLimiter } from './limits.js'
import { type EndpointTool, serviceTools, type ToolFilter, toolFilter } from './tools.js'

export const MCP_ERROR_ID = 'go.micro.mcp'

const { version: PACKAGE_VERSION } = createRequire(import.meta.url)('../package.json') as { version: string }

export interface McpGatewayOptions extends ToolFilter {
  /** Where the tools come from. */
  registry: Registry
  /** Makes the calls (its selector, retries and transport). */
  client: Client
  /** A registry view to share (default: a catalog of `registry`, closed with the gateway). */
  catalog?: ServiceCatalog
  /** Deadline of a call whose caller sends none, ms (default: the client's own). */
  timeout?: number
  /** The longest deadline a caller may ask for, ms (default: no cap). */
  maxTimeout?: number
  /** Per-tool rate limit, shared by every session (default: none). */
  rateLimit?: RateLimit
  /** The server name MCP clients are told (default `micro`). */
  name?: string
  /** Told to MCP clients when they connect: what these tools are for. */
  instructions?: string
  logger?: Logger
}

/** What a tool call carries from its caller. */
export interface ToolCallContext {
  /** Fires when the MCP client cancels the request (or goes away). */
  signal?: AbortSignal
  /** The caller's deadline, ms from now. */
  timeout?: number
  /** Extra go-micro metadata for the service. */
  headers?: Record<string, string>
}

export class McpGateway {
  readonly catalog: ServiceCatalog
  readonly client: Client
  readonly logger: Logger
  private readonly options: McpGatewayOptions
  private readonly exposed: (service: string, endpoint: string) => boolean
  private readonly limiter?: RateLimiter
  private readonly ownCatalog: boolean
  private readonly byService = new Map<string, EndpointTool[]>()
  private tools = new Map<string, EndpointTool>()
  private signature = ''
  private readonly servers = new Set<Server>()
  private readonly unsubscribe: () => void
  private started?: Promise<void>

  constructor(options: McpGatewayOptions) {
    if (!options?.registry || !options.client)
      throw new TypeError('createMcpGateway(): a registry and a client are required')
    this.options = options
    this.client = options.client
    this.logger = options.logger ?? silentLogger
    this.exposed = toolFilter(options)
    this.limiter = options.rateLimit ? new RateLimiter(options.rateLimit) : undefined
    this.ownCatalog = !options.catalog
    this.catalog = options.catalog ?? createCatalog(options.registry, { logger: this.logger })
    this.unsubscribe = this.catalog.onChange((change) => {
      this.byService.set(change.name, serviceTools(change.name, change.services, this.exposed))
      this.rebuild()
    })
  }

  /** Read the registry once (later changes arrive from its watch); every request waits for it. */
  start(): Promise<void> {
    this.started ??= this.catalog.start().then(() => {
      for (const c of this.catalog.list())
        this.byService.set(c.name, serviceTools(c.name, c.services, this.exposed))
      this.rebuild()
    })
    return this.started
  }

  /** The tools as listed now, sorted by name. */
  listTools(): EndpointTool[] {
    return [...this.tools.values()]
  }

  /** A new MCP server (one per session) answering tools/list and tools/call from this gateway. */
  createServer(): Server {
    const server = new Server(
      { name: this.options.name ?? 'micro', version: PACKAGE_VERSION },
      {
        capabilities: { tools: { listChanged: true } },
        instructions:
          this.options.instructions ??
          'Each tool calls one endpoint of a microservice found in the service registry; the input is the request as JSON, the result is the answer, and a failure is a tool error carrying the service error {id, code, detail, status}.',
      },
    )
    server.setRequestHandler(ListToolsRequestSchema, async () => {
      await this.start()
      return { tools: this.listTools().map(listed) }
    })
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const fromHttp = callerDeadline(extra.requestInfo)
      return this.callTool(request.params.name, request.params.arguments, {
        signal: extra.signal,
        ...(fromHttp !== undefined ? { timeout: fromHttp } : {}),
        ...(extra.sessionId ? { headers: { 'mcp-session-id': extra.sessionId } } : {}),
      })
    })
    this.servers.add(server)
    const previous = server.onclose
    server.onclose = () => {
      this.servers.delete(server)
      previous?.()
    }
    return server
  }

  /**
   * Call a tool: an unknown (or not exposed) name is a protocol error; anything the call itself
   * answers, failures included, is a tool result (`isError` with go-micro's error JSON).
   */
  async callTool(name: string, args: unknown, context: ToolCallContext = {}): Promise<CallToolResult> {
    await this.start()
    const tool = this.tools.get(name)
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`)
    const wait = this.limiter?.take(name) ?? 0
    if (wait > 0) {
      return toolError(
        errors.tooManyRequests(
          MCP_ERROR_ID,
          `${name}: over its rate limit of ${this.options.rateLimit?.perSecond}/s; the next call is allowed in ${wait} ms`,
        ),
      )
    }
    let timeout = context.timeout ?? this.options.timeout
    const max = this.options.maxTimeout
    if (max !== undefined && (timeout === undefined || timeout > max)) timeout = max
    try {
      const result = await this.client.call(tool.service, tool.endpoint, args ?? {}, {
        headers: { ...context.headers, 'mcp-tool-name': name },
        ...(context.signal ? { signal: context.signal } : {}),
        ...(timeout !== undefined ? { timeout } : {}),
      })
      return toolResult(result)
    } catch (e) {
      return toolError(MicroError.from(e, MCP_ERROR_ID))
    }
  }

  /** Stop following the registry and close every session's server. */
  async close(): Promise<void> {
    this.unsubscribe()
    for (const server of [...this.servers]) await server.close().catch(() => {})
    if (this.ownCatalog) await this.catalog.close()
  }

  private rebuild(): void {
    const tools = new Map<string, EndpointTool>()
    for (const service of [...this.byService.keys()].sort()) {
      for (const tool of this.byService.get(service) ?? []) {
        const taken = tools.get(tool.name)
        if (taken) {
          this.logger.warn(
            {
              tool: tool.name,
              service,
              endpoint: tool.endpoint,
              taken: `${taken.service} ${taken.endpoint}`,
            },
            'mcp: two endpoints make the same tool name; the second is not listed',
          )
          continue
        }
        tools.set(tool.name, tool)
      }
    }
    const sorted = new Map([...tools.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    this.limiter?.retain(new Set(sorted.keys()))
    const signature = JSON.stringify([...sorted.values()].map(listed))
    this.tools = sorted
    if (signature === this.signature) return
    this.signature = signature
    for (const server of this.servers) {
      // A session that has not finished initialising (or has gone) has nothing to be told.
      server.sendToolListChanged().catch(() => {})
    }
  }
}

function listed(tool: EndpointTool): Tool {
  return { name: tool.name, title: tool.title, description: tool.description, inputSchema: tool.inputSchema }
}

/** An answer as a tool result: JSON text for any client, and structured when it is an object. */
function toolResult(result: unknown): CallToolResult {
  const text = JSON.stringify(result ?? null)
  const structured = typeof result === 'object' && result !== null && !Array.isArray(result)
  return {
    content: [{ type: 'text', text }],
    ...(structured ? { structuredContent: result as Record<string, unknown> } : {}),
  }
}

function toolError(err: MicroError): CallToolResult {
  const json = err.toJSON()
  return {
    isError: true,
    content: [{ type: 'text', text: JSON.stringify(json) }],
    structuredContent: { error: json },
  }
}

/** go-micro's `Timeout` header (ns) or `?timeout=5s` on the MCP HTTP request, ms. */
function callerDeadline(info: RequestInfo | undefined): number | undefined {
  if (!info) return undefined
  const raw = info.headers.timeout
  const fromHeader = parseTimeoutHeader(Array.isArray(raw) ? raw[0] : raw)
  if (fromHeader !== undefined) return fromHeader
  const query = info.url?.searchParams.get('timeout')
  if (!query) return undefined
  try {
    return parseDuration(query)
  } catch {
    throw new McpError(ErrorCode.InvalidParams, `timeout=${query} is not a duration (5s, 300ms, or ms)`)
  }
}

/** An MCP gateway over `registry`; serve it with `serveStdio()` or `mountMcp()`. */
export function createMcpGateway(options: McpGatewayOptions): McpGateway {
  return new McpGateway(options)
}
