/** `micro api`: the gateway on its own, until Ctrl-C (which drains it). */
import { mountDashboard } from '@micro-ts/dashboard'
import { createGateway, type Gateway } from '@micro-ts/gateway'
import { mountMcp } from '@micro-ts/mcp'
import { connect } from '../connect.js'
import type { Output } from '../output.js'
import { list, rateLimit } from './mcp.js'

export interface ApiFlags {
  address?: string
  cors?: string
  maxBodySize?: string
  timeout?: string
  /** Serve the web dashboard at /dashboard/. */
  dashboard?: boolean
  /** Serve MCP over streamable HTTP at /mcp (on when a token is given). */
  mcp?: boolean
  /** Bearer token /mcp requires (also MICRO_MCP_TOKEN). */
  mcpToken?: string
  /** /mcp's allow and deny lists (also MICRO_MCP_ALLOW, MICRO_MCP_DENY) and per-tool rate limit. */
  allow?: string
  deny?: string
  rateLimit?: string
}

export interface RunningGateway {
  gateway: Gateway
  address: string
  close(): Promise<void>
}

/** Start a gateway on the system the environment names; `micro run --gateway` uses it too. */
export async function startGateway(
  env: Record<string, string | undefined>,
  flags: ApiFlags,
): Promise<RunningGateway> {
  const service = await connect(env, 'micro.api')
  const cors = flags.cors
    ? flags.cors
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined
  const gateway = createGateway({
    registry: service.registry,
    client: service.client,
    broker: service.broker,
    store: service.store,
    cors: cors ? { origins: cors.includes('*') ? '*' : cors } : undefined,
    maxBodySize: flags.maxBodySize ? Number(flags.maxBodySize) : undefined,
    logger: service.logger,
  })
  const dashboard = flags.dashboard ? mountDashboard(gateway) : undefined
  const mcpToken = flags.mcpToken ?? env.MICRO_MCP_TOKEN
  const mcp =
    flags.mcp || mcpToken
      ? mountMcp(gateway, {
          token: mcpToken,
          allow: list(flags.allow ?? env.MICRO_MCP_ALLOW),
          deny: list(flags.deny ?? env.MICRO_MCP_DENY),
          rateLimit: rateLimit(flags.rateLimit),
          // One registry watch for both when the dashboard is on.
          catalog: dashboard?.catalog,
        })
      : undefined
  const closeMounted = async () => {
    await dashboard?.close()
    await mcp?.close()
  }
  let address: string
  try {
    address = await gateway.listen(flags.address ?? env.MICRO_API_ADDRESS ?? ':8080')
  } catch (e) {
    await closeMounted()
    await service.stop()
    throw e
  }
  return {
    gateway,
    address,
    close: async () => {
      await closeMounted()
      await gateway.close()
      await service.stop()
    },
  }
}

/** The banner: where the gateway listens and its routes. */
export function gatewayBanner(address: string, gateway: Gateway): string {
  const host =
    address.startsWith('[::]') || address.startsWith('0.0.0.0')
      ? `localhost:${address.slice(address.lastIndexOf(':') + 1)}`
      : address
  const lines = [`gateway listening on http://${host}`]
  // One line per path and purpose, its methods joined.
  const grouped = new Map<string, { methods: string[]; path: string; description: string }>()
  for (const r of gateway.listRoutes()) {
    const key = `${r.path}\0${r.description ?? ''}`
    const g = grouped.get(key) ?? { methods: [], path: r.path, description: r.description ?? '' }
    g.methods.push(r.method)
    grouped.set(key, g)
  }
  for (const g of grouped.values())
    lines.push(`  ${g.methods.join(',').padEnd(24)} ${g.path.padEnd(26)} ${g.description}`.trimEnd())
  if (gateway.listRoutes().some((r) => r.path === '/dashboard/api/events'))
    lines.push(`dashboard: http://${host}/dashboard/`)
  return `${lines.join('\n')}\n`
}

export async function api(
  env: Record<string, string | undefined>,
  out: Output,
  flags: ApiFlags,
  signal: AbortSignal,
): Promise<void> {
  const running = await startGateway(env, flags)
  out.out(gatewayBanner(running.address, running.gateway))
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
  out.err('gateway: draining\n')
  await running.close()
  out.err('gateway: stopped\n')
}
