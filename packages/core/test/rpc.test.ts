import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { errors, type HandlerContext, MicroError, type MicroService } from '../src/index.js'
import { clientService, createMemoryRegistry, startService } from './helpers.js'

class Greeter {
  async Hello(req: { name: string }) {
    return { greeting: `Hello ${req.name}` }
  }
  async Fail(req: { name: string }) {
    throw errors.badRequest('greeter.fail', `bad name ${req.name}`)
  }
  async Crash() {
    throw new Error('boom')
  }
  async Slow(req: { ms: number }, ctx: HandlerContext) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, req.ms)
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t)
        aborted.push(ctx.endpoint)
        resolve()
      })
    })
    return { done: true }
  }
}
const aborted: string[] = []

const open: MicroService[] = []
afterEach(async () => {
  for (const s of open.splice(0)) await s.stop()
})

async function setup(options = {}) {
  const registry = createMemoryRegistry()
  const server = await startService(registry, { name: 'greeter', ...options })
  server.handle(new Greeter())
  const client = await clientService(registry)
  open.push(server, client)
  return { registry, server, client }
}

async function post(address: string, headers: Record<string, string>, body: string | Buffer) {
  const res = await fetch(`http://${address}/`, { method: 'POST', headers, body })
  return { status: res.status, headers: res.headers, body: await res.text() }
}

describe('RPC over the http transport', () => {
  it('calls a handler found through the registry, typed', async () => {
    const { client } = await setup()
    const greeter = client.client.service<Greeter>('greeter', 'Greeter')
    const rsp = await greeter.Hello({ name: 'John' })
    expect(rsp.greeting).toBe('Hello John')
    expect(await client.client.call('greeter', 'Greeter.Hello', { name: 'Jane' })).toEqual({
      greeting: 'Hello Jane',
    })
  })

  it('answers a plain curl-style POST with go-micro headers', async () => {
    const { server } = await setup()
    const rsp = await post(
      server.server.address,
      { 'Content-Type': 'application/json', 'Micro-Service': 'greeter', 'Micro-Endpoint': 'Greeter.Hello' },
      '{"name":"John"}',
    )
    expect(rsp.status).toBe(200)
    expect(JSON.parse(rsp.body)).toEqual({ greeting: 'Hello John' })
  })

  it('reads headers case-insensitively and accepts the X- fallback', async () => {
    const { server } = await setup()
    const rsp = await post(
      server.server.address,
      { 'content-type': 'application/json', 'x-micro-service': 'greeter', 'MICRO-ENDPOINT': 'Greeter.Hello' },
      '{"name":"Case"}',
    )
    expect(JSON.parse(rsp.body)).toEqual({ greeting: 'Hello Case' })
  })

  it('publishes the endpoints in the registry', async () => {
    const { registry } = await setup()
    const [svc] = await registry.getService('greeter')
    expect(svc.endpoints?.map((e) => e.name)).toEqual(
      expect.arrayContaining(['Greeter.Hello', 'Greeter.Fail', 'Greeter.Slow']),
    )
    expect(svc.nodes[0].metadata).toMatchObject({ protocol: 'mucp', transport: 'http' })
  })
})

describe('bad input', () => {
  it('malformed JSON → 400 MicroError', async () => {
    const { server, client } = await setup()
    const rsp = await post(
      server.server.address,
      { 'Content-Type': 'application/json', 'Micro-Service': 'greeter', 'Micro-Endpoint': 'Greeter.Hello' },
      '{"name":',
    )
    const err = MicroError.parse(rsp.headers.get('micro-error') ?? '')
    expect(err.code).toBe(400)
    // and the server still serves
    expect(await client.client.call('greeter', 'Greeter.Hello', { name: 'after' })).toEqual({
      greeting: 'Hello after',
    })
  })

  it('unknown endpoint and unknown service → 404 MicroError', async () => {
    const { server, client } = await setup()
    await expect(client.client.call('greeter', 'Greeter.Nope', {})).rejects.toMatchObject({ code: 404 })
    await expect(client.client.call('nosuch', 'Greeter.Hello', {})).rejects.toMatchObject({
      code: 404,
      detail: 'service nosuch not found',
    })
    const rsp = await post(
      server.server.address,
      { 'Content-Type': 'application/json', 'Micro-Service': 'other', 'Micro-Endpoint': 'Greeter.Hello' },
      '{}',
    )
    expect(MicroError.parse(rsp.headers.get('micro-error') ?? '').code).toBe(404)
  })

  it('a body over the limit → 413 MicroError', async () => {
    const { server } = await setup({ maxBodySize: 1024 })
    const rsp = await post(
      server.server.address,
      { 'Content-Type': 'application/json', 'Micro-Service': 'greeter', 'Micro-Endpoint': 'Greeter.Hello' },
      JSON.stringify({ name: 'x'.repeat(4096) }),
    ).catch((e) => ({ status: 0, headers: new Headers(), body: String(e) }))
    // Either the 413 reached us, or the server closed the connection after answering it.
    if (rsp.status !== 0) expect(MicroError.parse(rsp.headers.get('micro-error') ?? '').code).toBe(413)
    const ok = await post(
      server.server.address,
      { 'Content-Type': 'application/json', 'Micro-Service': 'greeter', 'Micro-Endpoint': 'Greeter.Hello' },
      '{"name":"small"}',
    )
    expect(JSON.parse(ok.body)).toEqual({ greeting: 'Hello small' })
  })

  it('garbage bytes close that connection and the server keeps serving', async () => {
    const { server, client } = await setup()
    const [host, port] = [server.server.address.split(':')[0], Number(server.server.address.split(':')[1])]
    await new Promise<void>((resolve) => {
      const sock = net.connect(port, host, () => sock.write('\x00\x01garbage\r\n\r\n\xff\xfe'))
      sock.on('close', () => resolve())
      sock.on('error', () => {})
      sock.resume()
    })
    expect(await client.client.call('greeter', 'Greeter.Hello', { name: 'still' })).toEqual({
      greeting: 'Hello still',
    })
  })

  it('a handler error reaches the caller with id, code, detail and status', async () => {
    const { client } = await setup()
    const err = (await client.client
      .call('greeter', 'Greeter.Fail', { name: 'x' })
      .catch((e) => e)) as MicroError
    expect(err).toBeInstanceOf(MicroError)
    expect(err.toJSON()).toEqual({
      id: 'greeter.fail',
      code: 400,
      detail: 'bad name x',
      status: 'Bad Request',
    })
    const crash = await client.client.call('greeter', 'Greeter.Crash', {}).catch((e) => e)
    expect(crash).toMatchObject({ code: 500, detail: 'boom' })
  })

  it('a handler over the deadline → 408 for the caller and its AbortSignal fires', async () => {
    const { client } = await setup()
    aborted.length = 0
    const started = Date.now()
    const err = (await client.client
      .call('greeter', 'Greeter.Slow', { ms: 5000 }, { timeout: 200 })
      .catch((e) => e)) as MicroError
    expect(err).toBeInstanceOf(MicroError)
    expect(err.code).toBe(408)
    expect(Date.now() - started).toBeLessThan(4000)
    await expect.poll(() => aborted).toContain('Greeter.Slow')
  })

  it('wrappers see working signals: a call wrapper that spreads its options, a handler wrapper that derives a context', async () => {
    const registry = createMemoryRegistry()
    const seenHandler: string[] = []
    const server = await startService(registry, {
      name: 'greeter',
      wrappers: {
        handler: [
          (next) => async (req, ctx) => {
            seenHandler.push(ctx.signal instanceof AbortSignal ? 'signal' : 'none')
            return next(req, { ...ctx, signal: ctx.signal, remote: ctx.remote, headers: { ...ctx.headers } })
          },
        ],
      },
    })
    server.handle(new Greeter())
    const seenCall: boolean[] = []
    const client = await clientService(registry, {
      wrappers: {
        call: [
          (next) => async (node, req, opts) => {
            seenCall.push(opts.signal instanceof AbortSignal)
            return next(node, req, { ...opts, headers: { ...opts.headers, 'X-Wrapped': '1' } })
          },
        ],
      },
    })
    open.push(server, client)
    aborted.length = 0
    expect(await client.client.call('greeter', 'Greeter.Hello', { name: 'W' })).toEqual({
      greeting: 'Hello W',
    })
    const err = (await client.client
      .call('greeter', 'Greeter.Slow', { ms: 5000 }, { timeout: 200 })
      .catch((e) => e)) as MicroError
    expect(err.code).toBe(408)
    // The handler behind the wrapper got the derived context, and its signal still fired.
    await expect.poll(() => aborted).toContain('Greeter.Slow')
    expect(seenCall).toEqual([true, true])
    expect(seenHandler).toEqual(['signal', 'signal'])
  })
})
