/**
 * go-micro's `Timeout` header end to end, on every built-in transport: the RPC client writes it,
 * the RPC server enforces it, the transports only carry it. Deadlines of days must work.
 */
import { describe, expect, it } from 'vitest'
import {
  createMemoryBroker,
  createMemoryRegistry,
  createService,
  type HandlerContext,
  MicroError,
  type MicroService,
  type Transport,
} from '../src/index.js'
import { closing, defer, serve, TRANSPORTS, until, utf8 } from './transport-helpers.js'

interface Seen {
  reasons: MicroError[]
  deadlines: (number | undefined)[]
}

/** A service whose `Slow.Wait` waits `ms` (or until its signal fires) and records what it saw. */
async function slowService(transport: string): Promise<{ service: MicroService; seen: Seen }> {
  const seen: Seen = { reasons: [], deadlines: [] }
  const service = await createService({
    name: `deadline.${transport}`,
    address: '127.0.0.1:0',
    registry: createMemoryRegistry(),
    broker: createMemoryBroker(),
    env: { MICRO_TRANSPORT: transport, MICRO_LOG_LEVEL: 'silent' },
  })
  defer(() => service.stop())
  service.handle(
    {
      async Wait(req: { ms: number }, ctx: HandlerContext) {
        seen.deadlines.push(ctx.deadline)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, req.ms)
          ctx.signal.addEventListener('abort', () => {
            seen.reasons.push(ctx.signal.reason as MicroError)
            clearTimeout(timer)
            resolve()
          })
        })
        return { waited: req.ms }
      },
    },
    { name: 'Slow' },
  )
  await service.start()
  return { service, seen }
}

function rpcHeaders(service: MicroService, timeout?: string): Record<string, string> {
  return {
    'Content-Type': 'application/json',
    'Micro-Service': service.name,
    'Micro-Endpoint': 'Slow.Wait',
    ...(timeout === undefined ? {} : { Timeout: timeout }),
  }
}

function client(name: string): Transport {
  return closing(TRANSPORTS[name]())
}

describe.each(Object.keys(TRANSPORTS))('%s transport: the Timeout header', (name) => {
  it('the RPC server enforces it on its own: 408 at the deadline without any client timer', async () => {
    const { service, seen } = await slowService(name)
    // A bare transport request: only the header carries the deadline (100 ms).
    const rsp = await client(name).request(service.server.address, {
      headers: rpcHeaders(service, String(100 * 1e6)),
      body: utf8('{"ms":30000}'),
    })
    expect(MicroError.parse(rsp.headers['micro-error'] ?? '').code).toBe(408)
    await until(() => seen.reasons.length === 1)
    expect(seen.reasons[0].code).toBe(408)
    expect(seen.deadlines[0]).toBeGreaterThan(Date.now() - 5_000)
  })

  it('is carried as the message has it, and never written from the request timeout', async () => {
    let headers: Record<string, string> = {}
    const t = client(name)
    const l = await serve(TRANSPORTS[name], {
      async request(m) {
        headers = m.headers
        return { headers: {}, body: m.body }
      },
    })
    await t.request(l.address, { headers: {}, body: utf8('') }, { timeout: 2_000 })
    expect(headers.timeout).toBeUndefined()
    await t.request(l.address, { headers: { TimeOut: '42' }, body: utf8('') }, { timeout: 2_000 })
    expect(headers.timeout).toBe('42')
  })

  it('a listener does not enforce it: a handler without the RPC server is never aborted by it', async () => {
    let aborted = false
    const l = await serve(TRANSPORTS[name], {
      async request(m, ctx) {
        ctx.signal.addEventListener('abort', () => {
          aborted = true
        })
        await new Promise((r) => setTimeout(r, 150))
        return { headers: {}, body: m.body }
      },
    })
    const rsp = await client(name).request(l.address, {
      headers: { Timeout: String(20 * 1e6) },
      body: utf8('x'),
    })
    expect(Buffer.from(rsp.body).toString()).toBe('x')
    expect(aborted).toBe(false)
  })
})
