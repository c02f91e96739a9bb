/**
 * `micro mcp`: the MCP gateway over stdio, for MCP clients that start the server themselves
 * (Claude Desktop, Claude Code, editors). JSON-RPC on stdin and stdout, so nothing else may
 * write to stdout: logs belong on stderr.
 */
import type { Readable, Writable } from 'node:stream'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import type { McpGateway } from './mcp.js'

export interface StdioOptions {
  /** Default `process.stdin`. */
  stdin?: Readable
  /** Default `process.stdout`. */
  stdout?: Writable
}

/** A served stdio session: `closed` resolves when the client closes stdin (or `close()` is called). */
export interface StdioSession {
  readonly closed: Promise<void>
  close(): Promise<void>
}

/** Serve `mcp` on stdin/stdout until the client closes its end. */
export async function serveStdio(mcp: McpGateway, options: StdioOptions = {}): Promise<StdioSession> {
  const stdin = options.stdin ?? process.stdin
  const stdout = options.stdout ?? process.stdout
  const transport = new StdioServerTransport(stdin, stdout)
  const server = mcp.createServer()
  let done!: () => void
  const closed = new Promise<void>((resolve) => {
    done = resolve
  })
  const forget = server.onclose
  server.onclose = () => {
    forget?.()
    done()
  }
  await server.connect(transport)
  // The SDK's stdio transport does not notice the end of its input: the client has gone then.
  const end = () => void server.close().catch(() => {})
  stdin.once('end', end)
  stdin.once('close', end)
  return {
    closed,
    async close() {
      stdin.off('end', end)
      stdin.off('close', end)
      await server.close()
    },
  }
}
