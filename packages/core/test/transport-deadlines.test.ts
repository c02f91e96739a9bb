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
import { deadlineSignal } from '../src/util/abort.js'
import { DeadlineSet, DeadlineTimer } from '../src/util/time.js'
import { closing, defer, serve, sleep, TRANSPORTS, until, utf8 } from './transport-helpers.js'

/** 2.2e15 ns: about 25 days, past Node's 2^31 - 1 ms timer limit. */
const DAYS_NS = '2200000000000000'

/** Counts Node's TimeoutOverflowWarnings (a timer given more than 2^31 - 1 ms) while a test runs. */
function overflowWarnings(): () => number {
  let n = 0
  const onWarning = (w: Error) => {
    if (w.name === 'TimeoutOverflowWarning') n++
  }
  process.on('warning', onWarning)
  defer(() => process.off('warning', onWarning))
  return () => n
}

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

  it(`a deadline of ${DAYS_NS} ns (25 days) neither ends the call at once nor spins the timer`, async () => {
    const warnings = overflowWarnings()
    const { service, seen } = await slowService(name)
    // As a header on a bare request...
    const rsp = await client(name).request(service.server.address, {
      headers: rpcHeaders(service, DAYS_NS),
      body: utf8('{"ms":200}'),
    })
    expect(rsp.headers['micro-error']).toBeUndefined()
    expect(JSON.parse(Buffer.from(rsp.body).toString())).toEqual({ waited: 200 })
    // ...and as the RPC client's timeout (its own timer, the transport's, the server's).
    const caller = await createService({
      name: `deadline.${name}.client`,
      registry: service.registry,
      broker: createMemoryBroker(),
      env: { MICRO_TRANSPORT: name, MICRO_LOG_LEVEL: 'silent' },
    })
    defer(() => caller.stop())
    const reply = await caller.client.call(service.name, 'Slow.Wait', { ms: 200 }, { timeout: 2.2e9 })
    expect(reply).toEqual({ waited: 200 })
    expect(seen.reasons).toEqual([])
    expect(seen.deadlines.every((d) => d !== undefined && d > Date.now() + 20 * 86_400_000)).toBe(true)
    await new Promise((r) => setTimeout(r, 50))
    expect(warnings()).toBe(0)
  })

  it('a stream deadline of 25 days neither ends the stream at once nor spins', async () => {
    const warnings = overflowWarnings()
    const l = await serve(TRANSPORTS[name], {
      request: async (m) => m,
      async stream(s) {
        for (;;) {
          const m = await s.recv()
          if (!m) break
          await new Promise((r) => setTimeout(r, 100))
          await s.send(m)
        }
        await s.close()
      },
    })
    const s = await client(name).stream(
      l.address,
      { headers: { Timeout: DAYS_NS }, body: new Uint8Array() },
      { timeout: 2.2e9 },
    )
    await s.send({ headers: {}, body: utf8('one') })
    expect(Buffer.from((await s.recv())?.body ?? []).toString()).toBe('one')
    await s.closeSend()
    expect(await s.recv()).toBeUndefined()
    await new Promise((r) => setTimeout(r, 50))
    expect(warnings()).toBe(0)
  })
})

describe('the shared deadline timer', () => {
  it('waits for a deadline 25 days away without firing or spinning', async () => {
    let scans = 0
    const timer = new DeadlineTimer(() => {
      scans++
      return Number.POSITIVE_INFINITY
    })
    defer(() => timer.stop())
    timer.arm(Date.now() + 2.2e9)
    await sleep(100)
    expect(scans).toBe(0)
  })

  it('expires what is due, in one sweep, and forgets what was deleted', async () => {
    const set = new DeadlineSet()
    const fired: string[] = []
    const entry = (name: string, inMs: number) => ({
      expiresAt: Date.now() + inMs,
      expire: () => fired.push(name),
    })
    const a = entry('a', 20)
    const b = entry('b', 20)
    const far = entry('far', 2.2e9)
    set.add(a)
    set.add(b)
    set.add(far)
    set.delete(b)
    await until(() => fired.length > 0)
    await sleep(30)
    expect(fired).toEqual(['a'])
    expect(set.size).toBe(1)
    set.delete(far)
  })

  it('deadlineSignal takes a timeout of days', async () => {
    const warnings = overflowWarnings()
    const { signal, dispose } = deadlineSignal(2.2e9)
    defer(dispose)
    await sleep(50)
    expect(signal.aborted).toBe(false)
    expect(warnings()).toBe(0)
  })
})
