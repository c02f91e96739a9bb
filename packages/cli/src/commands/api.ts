/** `micro api`: the gateway on its own, until Ctrl-C (which drains it). */
import { createGateway, type Gateway } from '@micro-ts/gateway'
import { connect } from '../connect.js'
import type { Output } from '../output.js'

export interface ApiFlags {
  address?: string
  cors?: string
  maxBodySize?: string
  timeout?: string
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
  let address: string
  try {
    address = await gateway.listen(flags.address ?? env.MICRO_API_ADDRESS ?? ':8080')
  } catch (e) {
    await service.stop()
    throw e
  }
  return {
    gateway,
    address,
    close: async () => {
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
