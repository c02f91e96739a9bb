/**
 * What the dashboard tests share: a private etcd (a registry of their own, so the page lists
 * exactly the services the test starts, under plain names) and a greeter on it whose request
 * schema refuses a name that is not a string.
 */
import { requireThat } from '@micro-ts/conformance/testing'
import { EtcdServer } from '@micro-ts/conformance/testing/etcd'
import { createService, type HandlerContext, type MicroService } from '@micro-ts/core'
import etcd from '@micro-ts/registry-etcd'
import { z } from 'zod'

export const etcdAvailable = requireThat(
  EtcdServer.available(),
  'etcd is not installed (bash scripts/backends.sh etcd)',
)

export function serviceEnv(registry: EtcdServer): Record<string, string> {
  return {
    MICRO_REGISTRY: 'etcd',
    MICRO_REGISTRY_ADDRESS: registry.address,
    MICRO_SERVER_ADDRESS: '127.0.0.1:0',
    MICRO_BROKER: 'memory',
    MICRO_LOG_LEVEL: 'silent',
  }
}

const HelloRequest = z.object({ name: z.string().min(1) })

class Greeter {
  async Hello(req: z.output<typeof HelloRequest>) {
    return { greeting: `Hello ${req.name}` }
  }

  /** How long the call's deadline left it, ms. */
  async Deadline(_req: unknown, ctx: HandlerContext) {
    return { deadline_ms: ctx.deadline === undefined ? -1 : ctx.deadline - Date.now() }
  }
}

/** A greeter node; every call makes another node of the same service. */
export async function startGreeter(
  registry: EtcdServer,
  metadata: Record<string, string> = {},
): Promise<MicroService> {
  const service = await createService({
    name: 'greeter',
    version: '1.0.0',
    metadata,
    plugins: [etcd],
    env: serviceEnv(registry),
  })
  service.handle(new Greeter(), {
    endpoints: {
      Hello: {
        request: HelloRequest,
        response: z.object({ greeting: z.string() }),
        metadata: { description: 'Greets a person by name' },
      },
      Deadline: { response: z.object({ deadline_ms: z.number() }) },
    },
  })
  await service.start()
  return service
}

/** The service whose client and registry the gateway uses. */
export function startCaller(registry: EtcdServer): Promise<MicroService> {
  return createService({ name: 'micro.api', plugins: [etcd], env: serviceEnv(registry) })
}
