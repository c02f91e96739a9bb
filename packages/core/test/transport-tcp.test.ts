import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import {
  createMemoryBroker,
  createMemoryRegistry,
  createService,
  createTcpTransport,
  loadPlugin,
  MicroError,
  type RequestContext,
  TransportError,
} from '../src/index.js'
import {
  defer,
  deferred,
  echo,
  tcpFrame as frame,
  hanging,
  message,
  TCP_PREFACE as PREFACE,
  raw,
  rawServer,
  rawSocket,
  rejection,
  text,
  transportKit,
  until,
} from './transport-helpers.js'

const { transport, serve } = transportKit(createTcpTransport)

describe('tcp transport: unary requests', () => {
  it('multiplexes many concurrent requests over one connection, answers matched by id', async () => {
    const remotes = new Set<string>()
    const l = await serve({
      async request(msg, ctx) {
        remotes.add(ctx.remote)
        // Answer out of order.
        const n = Number(text(msg.body))
        if (n % 3 === 0) await new Promise((r) => setTimeout(r, 2))
        return { headers: { 'x-n': String(n) }, body: msg.body }
      },
    })
    const t = transport()
    const answers = await Promise.all(
      Array.from({ length: 2_000 }, (_, i) => t.request(l.address, message(String(i)))),
    )
    for (const [i, rsp] of answers.entries()) {
      expect(text(rsp.body)).toBe(String(i))
      expect(rsp.headers['x-n']).toBe(String(i))
    }
    expect(remotes.size).toBe(1)
  })

  it('`poolSize: 2` spreads requests over two connections', async () => {
    const remotes = new Set<string>()
    const l = await serve({
      async request(msg, ctx) {
        remotes.add(ctx.remote)
        return msg
      },
    })
    const t = transport({ poolSize: 2 })
    await Promise.all(Array.from({ length: 10 }, () => t.request(l.address, message('x'))))
    expect(remotes.size).toBe(2)
  })

  it('carries headers (lower-cased, any text)', async () => {
    let seen: Record<string, string> = {}
    const l = await serve({
      async request(msg) {
        seen = msg.headers
        return { headers: { 'X-Reply': 'ünïcødé ✓', Empty: '' }, body: new Uint8Array(0) }
      },
    })
    const t = transport()
    const long = 'v'.repeat(60_000)
    const rsp = await t.request(
      l.address,
      message('', { 'Micro-Endpoint': 'Greeter.Hello', 'X-Long': long, 'X-Emoji': '😀 \u0000 \ud800' }),
      { timeout: 2_000 },
    )
    expect(seen['micro-endpoint']).toBe('Greeter.Hello')
    expect(seen['x-long']).toBe(long)
    expect(seen['x-emoji']).toBe('😀 \u0000 \ufffd')
    expect(rsp.headers).toEqual({ 'x-reply': 'ünïcødé ✓', empty: '' })
    // Header blocks over 64 KiB are refused before anything is sent.
    const err = await rejection(t.request(l.address, message('', { 'X-Huge': 'v'.repeat(70_000) })))
    expect(err.code).toBe(400)
    expect((err as TransportError).delivered).toBe(false)
  })

  it('round-trips a 9 MiB body', async () => {
    const l = await serve(echo)
    const body = Buffer.alloc(9 * 1024 * 1024)
    for (let i = 0; i < body.length; i += 4096) body[i] = i % 251
    const rsp = await transport().request(l.address, message(body))
    expect(Buffer.compare(Buffer.from(rsp.body), body)).toBe(0)
  })

  it('a body over maxBodySize gets a 413 for that request only; the connection keeps serving', async () => {
    const remotes = new Set<string>()
    const l = await serve(
      {
        async request(msg, ctx) {
          remotes.add(ctx.remote)
          return msg
        },
      },
      { maxBodySize: 1024 },
    )
    const t = transport()
    const [big, small] = await Promise.all([
      t.request(l.address, message(Buffer.alloc(200_000))),
      t.request(l.address, message('small')),
    ])
    const err = MicroError.parse(big.headers['micro-error'] ?? '')
    expect(err.code).toBe(413)
    expect(text(small.body)).toBe('small')
    expect(text((await t.request(l.address, message('after'))).body)).toBe('after')
    expect(remotes.size).toBe(1)
  })

  it('a response over maxResponseSize rejects with a 413 TransportError; the connection keeps serving', async () => {
    const l = await serve({
      async request(msg) {
        return { headers: {}, body: text(msg.body) === 'big' ? Buffer.alloc(100_000) : msg.body }
      },
    })
    const t = transport({ maxResponseSize: 1024 })
    const err = await rejection(t.request(l.address, message('big')))
    expect(err).toBeInstanceOf(TransportError)
    expect(err.code).toBe(413)
    expect(text((await t.request(l.address, message('ok'))).body)).toBe('ok')
  })

  it('a handler error travels as a Micro-Error header with its code', async () => {
    const l = await serve({
      async request() {
        throw new MicroError('test', 409, 'conflict')
      },
    })
    const rsp = await transport().request(l.address, message('x'))
    expect(MicroError.parse(rsp.headers['micro-error'] ?? '')).toMatchObject({
      code: 409,
      detail: 'conflict',
    })
  })
})

describe('tcp transport: deadlines and cancellation', () => {
  it('a deadline rejects with 408 and fires the handler’s abort with 408', async () => {
    const hang = hanging()
    const l = await serve(hang.handler)
    const t = transport()
    const err = await rejection(t.request(l.address, message('slow'), { timeout: 100 }))
    expect(err.code).toBe(408)
    await until(() => hang.reasons.length === 1)
    expect(hang.reasons[0].code).toBe(408)
    // The connection is still good.
    expect(hang.started()).toBe(1)
  })

  it('aborting the caller’s signal rejects with 499 and tells the server', async () => {
    const hang = hanging()
    const l = await serve(hang.handler)
    const t = transport()
    const abort = new AbortController()
    const pending = t.request(l.address, message('x'), { signal: abort.signal })
    await until(() => hang.started() === 1)
    abort.abort()
    expect((await rejection(pending)).code).toBe(499)
    await until(() => hang.reasons.length === 1)
    expect(hang.reasons[0].code).toBe(499)
  })
})

describe('tcp transport: failures', () => {
  it('connect refused rejects with delivered: false', async () => {
    const { address, server } = await rawServer(() => {})
    await new Promise((r) => server.close(r))
    const err = await rejection(transport().request(address, message('x')))
    expect(err).toBeInstanceOf(TransportError)
    expect((err as TransportError).delivered).toBe(false)
    expect(err.detail).toMatch(/connection refused/)
  })

  it('a server that never sends its preface: connect timeout, delivered: false', async () => {
    const { address } = await rawServer(() => {})
    const t = transport({ connectTimeout: 150 })
    const errs = await Promise.all([1, 2, 3].map(() => rejection(t.request(address, message('x')))))
    for (const err of errs) {
      expect((err as TransportError).delivered).toBe(false)
      expect(err.detail).toMatch(/connect timeout/)
    }
  })

  it('a peer that is not a tcp transport server (HTTP): delivered: false, nothing written', async () => {
    let received = 0
    const { address } = await rawServer((s) => {
      s.on('data', (c) => {
        received += c.length
        s.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
      })
    })
    const err = await rejection(transport().request(address, message('x')))
    expect((err as TransportError).delivered).toBe(false)
    expect(received).toBe(4) // the preface only
  })

  it('the server dying mid-request fails written requests with delivered: true; the next request redials', async () => {
    let connections = 0
    const { address } = await rawServer((s) => {
      connections++
      s.write(PREFACE)
      // Die as soon as a request arrives (what a killed process looks like from here).
      s.once('data', () => setTimeout(() => s.destroy(), 20))
    })
    const t = transport()
    const errs = await Promise.all([1, 2].map(() => rejection(t.request(address, message('x')))))
    for (const err of errs) {
      expect(err).toBeInstanceOf(TransportError)
      expect((err as TransportError).delivered).toBe(true)
    }
    await rejection(t.request(address, message('again')))
    expect(connections).toBe(2)
  })

  it('a killed server’s real listener: in-flight requests fail delivered: true, the handler sees 503', async () => {
    const hang = hanging()
    const l = await serve(hang.handler)
    const pending = transport().request(l.address, message('x'))
    await until(() => hang.started() === 1)
    await l.close(0)
    const err = await rejection(pending)
    expect((err as TransportError).delivered).toBe(true)
    expect(hang.reasons[0].code).toBe(503)
  })

  it('garbage, unknown frame types and absurd lengths close that connection only; the server keeps serving', async () => {
    const l = await serve(echo)
    const t = transport()
    expect(text((await t.request(l.address, message('before'))).body)).toBe('before')
    const cases = [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.concat([PREFACE, frame(42, 1, Buffer.alloc(0))]),
      Buffer.concat([PREFACE, frame(3, 1, Buffer.alloc(0), 0x7fffffff)]),
      Buffer.concat([PREFACE, frame(1, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2]))]),
      Buffer.concat([PREFACE, frame(2, 1, Buffer.alloc(4))]),
    ]
    for (const bytes of cases) {
      const r = await raw(l.address, bytes)
      expect(r.closed, bytes.subarray(0, 12).toString('hex')).toBe(true)
    }
    expect(text((await t.request(l.address, message('after'))).body)).toBe('after')
  })

  it('a request frame split into single bytes is reassembled', async () => {
    const l = await serve(echo)
    const socket = rawSocket(l.address)
    const chunks: Buffer[] = []
    socket.on('data', (c) => chunks.push(c))
    await once(socket, 'connect')
    const block = Buffer.from('\u0006x-echo\u0002hi', 'utf8')
    const payload = Buffer.concat([Buffer.from([0, 0, 0, block.length]), block, Buffer.from('body')])
    const bytes = Buffer.concat([PREFACE, frame(1, 7, payload)])
    for (const b of bytes) {
      socket.write(Buffer.from([b]))
      await new Promise((r) => setImmediate(r))
    }
    await until(() => Buffer.concat(chunks).length >= 4 + 9 + payload.length)
    socket.destroy()
    const got = Buffer.concat(chunks)
    expect(got.subarray(0, 4)).toEqual(PREFACE)
    expect(got[8]).toBe(2) // RESPONSE
    expect(got.readUInt32BE(9)).toBe(7)
    expect(got.subarray(got.length - 4).toString()).toBe('body')
  })
})

describe('tcp transport: shutdown', () => {
  it('close(grace) lets requests in flight finish, then new requests fail undelivered', async () => {
    const l = await serve({
      async request(msg) {
        await new Promise((r) => setTimeout(r, 150))
        return msg
      },
    })
    const t = transport()
    const pending = [t.request(l.address, message('a')), t.request(l.address, message('b'))]
    await new Promise((r) => setTimeout(r, 30))
    const closed = l.close(5_000)
    expect((await Promise.all(pending)).map((m) => text(m.body))).toEqual(['a', 'b'])
    await closed
    const err = await rejection(t.request(l.address, message('late')))
    expect((err as TransportError).delivered).toBe(false)
  })

  it('a draining server answers new requests with a retryable 503 from go.micro.server', async () => {
    const gate = deferred()
    const l = await serve({
      async request(msg) {
        if (text(msg.body) === 'slow') await gate.promise
        return msg
      },
    })
    const t = transport()
    const slow = t.request(l.address, message('slow'))
    await new Promise((r) => setTimeout(r, 30))
    // A client connected before the close that sends a request after it (as if it had not read GOAWAY yet).
    const s = rawSocket(l.address)
    const got: Buffer[] = []
    s.on('data', (c) => got.push(c))
    await once(s, 'connect')
    s.write(PREFACE)
    await until(() => got.length > 0)
    const closed = l.close(5_000)
    await until(() => Buffer.concat(got).length >= 4 + 9) // the GOAWAY
    s.write(frame(1, 1, Buffer.alloc(4)))
    await until(() => Buffer.concat(got).includes('go.micro.server'))
    const answer = Buffer.concat(got).toString('latin1')
    expect(answer).toMatch(/"code":503/)
    s.destroy()
    gate.resolve()
    expect(text((await slow).body)).toBe('slow')
    await closed
  })

  it('transport.close() closes its pooled connections and refuses new requests undelivered', async () => {
    const hang = hanging()
    const l = await serve(hang.handler)
    const t = createTcpTransport()
    const pending = t.request(l.address, message('x'))
    await until(() => hang.started() === 1)
    await t.close()
    expect((await rejection(pending)).code).toBe(500)
    await until(() => hang.reasons.length === 1)
    expect(hang.reasons[0].code).toBe(499)
    const err = await rejection(t.request(l.address, message('x')))
    expect((err as TransportError).delivered).toBe(false)
  }, 10_000)
})

describe('tcp transport: streams', () => {
  it('streams and unary requests share one connection without mixing', async () => {
    const remotes = new Set<string>()
    const l = await serve({
      async request(msg, ctx: RequestContext) {
        remotes.add(ctx.remote)
        return msg
      },
      async stream(s, ctx) {
        remotes.add(ctx.remote)
        for (;;) {
          const m = await s.recv()
          if (!m) break
          await s.send(m)
        }
        await s.close()
      },
    })
    const t = transport()
    const stream = await t.stream(l.address, message(''))
    const calls = Array.from({ length: 50 }, (_, i) => t.request(l.address, message(`u${i}`)))
    for (let i = 0; i < 50; i++) await stream.send(message(`s${i}`))
    await stream.closeSend()
    const got: string[] = []
    for (;;) {
      const m = await stream.recv()
      if (!m) break
      got.push(text(m.body))
    }
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `s${i}`))
    expect((await Promise.all(calls)).map((m) => text(m.body))).toEqual(
      Array.from({ length: 50 }, (_, i) => `u${i}`),
    )
    expect(remotes.size).toBe(1)
  })

  it('flow control: a sender runs ahead of a slow reader by at most the window, without blocking other calls', async () => {
    let received = 0
    const gate = deferred()
    const l = await serve({
      ...echo,
      async stream(s) {
        await gate.promise
        while (await s.recv()) received++
        await s.close()
      },
    })
    const t = transport()
    const stream = await t.stream(l.address, message(''))
    let sent = 0
    const sending = (async () => {
      for (let i = 0; i < 1_000; i++) {
        await stream.send(message('m'))
        sent++
      }
      await stream.closeSend()
    })()
    await new Promise((r) => setTimeout(r, 100))
    expect(sent).toBe(256)
    // The same connection still answers requests.
    expect(text((await t.request(l.address, message('free'))).body)).toBe('free')
    gate.resolve()
    await sending
    expect(await stream.recv()).toBeUndefined()
    expect(received).toBe(1_000)
  })

  it('a stream deadline aborts both ends with 408', async () => {
    let serverReason: unknown
    const l = await serve({
      ...echo,
      async stream(s) {
        await new Promise<void>((resolve) => s.signal.addEventListener('abort', () => resolve()))
        serverReason = s.signal.reason
      },
    })
    const t = transport()
    const stream = await t.stream(l.address, message(''), { timeout: 100 })
    const err = await rejection(stream.recv())
    expect(err.code).toBe(408)
    await until(() => serverReason !== undefined)
    expect((serverReason as MicroError).code).toBe(408)
  })

  it('a lost connection fails the stream with delivered: true', async () => {
    const { address } = await rawServer((s) => {
      s.write(PREFACE)
      s.once('data', () => setTimeout(() => s.destroy(), 20))
    })
    const stream = await transport().stream(address, message(''))
    const err = await rejection(stream.recv())
    expect((err as TransportError).delivered).toBe(true)
  })
})

describe('tcp transport: as a plugin', () => {
  it('loadPlugin("transport", "tcp") and MICRO_TRANSPORT=tcp select it', async () => {
    const t = await loadPlugin('transport', 'tcp', { options: { poolSize: '2' } })
    expect(t.name).toBe('tcp')
    await t.close()
    const server = await createService({
      name: 'tcp.greeter',
      address: '127.0.0.1:0',
      registry: createMemoryRegistry(),
      broker: createMemoryBroker(),
      env: { MICRO_TRANSPORT: 'tcp', MICRO_LOG_LEVEL: 'silent' },
    })
    defer(() => server.stop())
    server.handle(
      {
        async Hello(req: { name: string }) {
          return { greeting: `Hello ${req.name}` }
        },
      },
      { name: 'Greeter' },
    )
    await server.start()
    expect(server.transport.name).toBe('tcp')
    const [record] = await server.registry.getService('tcp.greeter')
    expect(record.nodes[0].metadata?.transport).toBe('tcp')
    const client = await createService({
      name: 'tcp.client',
      env: { MICRO_TRANSPORT: 'tcp', MICRO_LOG_LEVEL: 'silent' },
      registry: server.registry,
      broker: createMemoryBroker(),
    })
    defer(() => client.stop())
    expect(await client.client.call('tcp.greeter', 'Greeter.Hello', { name: 'Tcp' })).toEqual({
      greeting: 'Hello Tcp',
    })
  })
})

describe('tcp transport: connecting', () => {
  it('requests queued while connecting are sent even if the transport closes meanwhile', async () => {
    const l = await serve(echo)
    const t = createTcpTransport()
    const pending = t.request(l.address, message('queued'))
    const closed = t.close()
    expect(text((await pending).body)).toBe('queued')
    await closed
  })
})
