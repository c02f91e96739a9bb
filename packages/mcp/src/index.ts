/**
 * @micro-ts/mcp — every registered endpoint as a Model Context Protocol tool, on the official
 * SDK: `serveStdio(createMcpGateway({ registry, client }))` for `micro mcp`, or
 * `mountMcp(gateway, { token })` for `/mcp` on the gateway over streamable HTTP.
 */
export { type McpEndpoint, type McpHttpOptions, mountMcp } from './http.js'
export { type RateLimit, RateLimiter } from './limits.js'
export {
  createMcpGateway,
  MCP_ERROR_ID,
  McpGateway,
  type McpGatewayOptions,
  type ToolCallContext,
} from './mcp.js'
export { type StdioOptions, type StdioSession, serveStdio } from './stdio.js'
export {
  type EndpointTool,
  isCallable,
  serviceTools,
  type ToolFilter,
  toolFilter,
  toolName,
} from './tools.js'
