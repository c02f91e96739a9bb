/**
 * What the gateway tests share: the shared etcd (a real registry every process reaches), and a
 * greeter service on it with schema-checked endpoints, a slow one and a stream.
 */
import { requireBackend, testAddress, uniqueName } from '@micro-ts/conformance/testing'
import {
  createService,
  errors,
  type HandlerContext,
  type MicroService,
  type RpcServerStream,
} from '@micro-ts/core'
import { z } from 'zod'

export const ETCD = testAddress('etcd', '127.0.0.1:2379')

export function etcdUp(): Promise<boolean> {
  return requireBackend(`etcd at ${ETCD}`, async () => {
    const res = await fetch(`http://${ETCD}/health`, { signal: AbortSignal.timeout(2000) })
    if (!res.ok) throw new Error(`etcd health: ${res.status}`)
  })
}

/** MICRO_* for a process (or createService) on the shared etcd, bound to loopback. */
export function etcdEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    MICRO_REGISTRY: 'etcd',
    MICRO_REGISTRY_ADDRESS: ETCD,
    MICRO_SERVER_ADDRESS: '127.0.0.1:0',
    MICRO_BROKER: 'memory',
    MICRO_LOG_LEVEL: 'silent',
    ...extra,
  }
}

export const HelloRequest = z.object({ name: z.string().min(1), times: z.number().int().optional() })
export const HelloResponse = z.object({ greeting: z.string() })

export const greeterSpec = {
  Hello: { request: HelloRequest, response: HelloResponse },
  Slow: {},
  Stream: { stream: true },
} as const

export class Greeter {
  async Hello(req: z.output<typeof HelloRequest>, ctx: HandlerContext) {
    const trace = ctx.headers['x-trace']
    return { greeting: `Hello ${req.name}`, ...(trace ? { trace } : {}), cookie: ctx.headers.cookie ?? null }
  }

  /** Reports the deadline it was given, then sleeps `ms` unless the deadline comes first. */
  async Slow(req: { ms: number }, ctx: HandlerContext) {
    const left = ctx.deadline === undefined ? -1 : ctx.deadline - Date.now()
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, req.ms)
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t)
        reject(ctx.signal.reason)
      })
    })
    return { deadline_ms: Math.round(left) }
  }

  async Stream(stream: RpcServerStream<{ name?: string; count?: number }, { greeting: string }>) {
    for await (const msg of stream) {
      if (msg.name === 'fail') throw errors.badRequest('greeter', 'bad name fail')
      for (let i = 1; i <= (msg.count ?? 1); i++) await stream.send({ greeting: `Hello ${msg.name ?? i}` })
    }
  }
}

export async function startGreeter(name = uniqueName('greeter')): Promise<MicroService> {
  const service = await createService({ name, version: '1.0.0', env: etcdEnv() })
  service.handle(new Greeter(), { endpoints: greeterSpec })
  await service.start()
  return service
}
