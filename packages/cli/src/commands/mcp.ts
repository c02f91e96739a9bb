/**
 * `micro mcp`: every endpoint in the registry as an MCP tool, over stdio, for MCP clients that
 * start the server themselves (Claude Desktop, Claude Code, editors). stdout carries MCP's
 * JSON-RPC only: nothing else is printed there (logs and errors go to stderr).
 */
import { parseDuration } from '@micro-ts/core'
import { createMcpGateway, type RateLimit, serveStdio } from '@micro-ts/mcp'
import { connect } from '../connect.js'
import { usage } from '../output.js'

export interface McpFlags {
  /** Services or `service.Endpoint` names, `*` globs, comma separated (also MICRO_MCP_ALLOW). */
  allow?: string
  /** The same, kept out (also MICRO_MCP_DENY). */
  deny?: string
  /** Calls per second each tool allows. */
  rateLimit?: string
  /** Deadline of a call, a duration (`10s`). */
  timeout?: string
}

export function list(value: string | undefined): string[] | undefined {
  const items = value
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  return items?.length ? items : undefined
}

export function rateLimit(value: string | undefined): RateLimit | undefined {
  if (value === undefined) return undefined
  const perSecond = Number(value)
  if (!(perSecond > 0)) throw usage(`--rate-limit ${value}: calls per second, a number above 0`)
  return { perSecond }
}

export async function mcp(
  env: Record<string, string | undefined>,
  flags: McpFlags,
  signal: AbortSignal,
): Promise<void> {
  let timeout: number | undefined
  try {
    timeout = flags.timeout ? parseDuration(flags.timeout) : undefined
  } catch (e) {
    throw usage(`--timeout ${flags.timeout}: ${(e as Error).message}`)
  }
  const limit = rateLimit(flags.rateLimit)
  const service = await connect(env, 'micro.mcp')
  const gateway = createMcpGateway({
    registry: service.registry,
    client: service.client,
    allow: list(flags.allow ?? env.MICRO_MCP_ALLOW),
    deny: list(flags.deny ?? env.MICRO_MCP_DENY),
    rateLimit: limit,
    timeout,
    logger: service.logger,
  })
  try {
    const session = await serveStdio(gateway)
    const stop = () => void session.close()
    signal.addEventListener('abort', stop, { once: true })
    await session.closed
    signal.removeEventListener('abort', stop)
  } finally {
    await gateway.close()
    await service.stop()
  }
}
