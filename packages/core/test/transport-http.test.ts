import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import {
  createHttpTransport,
  MicroError,
  type RequestContext,
  TransportError,
  type TransportMessage,
} from '../src/index.js'
import {
  deadAddress,
  deferred,
  echo,
  raw,
  rawServer,
  rawSocket,
  rejection,
  sleep,
  text,
  transportKit,
  utf8,
} from './transport-helpers.js'

const { transport, serve } = transportKit(createHttpTransport)

describe('http transport: unary requests', () => {
  it('echoes a message', async () => {
    const l = await serve(echo)
    const rsp = await transport().request(l.address, {
      headers: { 'Content-Type': 'application/json' },
      body: utf8('{"name":"John"}'),
    })
    expect(text(rsp.body)).toBe('{"name":"John"}')
    expect(rsp.headers['content-type']).toBe('application/json')
  })

  it('speaks go-micro RPC over HTTP: POST / with Micro-* headers, 200 with the reply headers', async () => {
    let seen: Record<string, string> = {}
    const l = await serve({
      async request(msg) {
        seen = msg.headers
        return {
          headers: { 'Content-Type': 'application/json', 'Micro-Id': msg.headers['micro-id'] },
          body: utf8('{}'),
        }
      },
    })
    const body = '{"name":"John"}'
    const { text: answer } = await raw(
      l.address,
      `POST / HTTP/1.1\r\nHost: ${l.address}\r\nContent-Type: application/json\r\nMicro-Service: greeter\r\n` +
        `Micro-Endpoint: Greeter.Hello\r\nMicro-Id: abc\r\nTimeout: 5000000000\r\nContent-Length: ${body.length}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    )
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(answer).toMatch(/\r\nMicro-Id: abc\r\n/)
    expect(answer).toMatch(/\r\nContent-Length: 2\r\n/)
    expect(answer.endsWith('\r\n\r\n{}')).toBe(true)
    expect(seen['micro-service']).toBe('greeter')
    expect(seen['micro-endpoint']).toBe('Greeter.Hello')
    expect(seen.timeout).toBe('5000000000')
  })

  it('sends Host and Content-Length', async () => {
    let seen: Record<string, string> = {}
    const l = await serve({
      async request(msg) {
        seen = msg.headers
        return { headers: {}, body: new Uint8Array() }
      },
    })
    const t = transport()
    await t.request(l.address, { headers: { 'X-A': '1' }, body: utf8('abc') }, { timeout: 2_000 })
    expect(seen.host).toBe(l.address)
    expect(seen['content-length']).toBe('3')
  })

  it('keeps 1,000 concurrent requests apart on one transport', async () => {
    const l = await serve({
      async request(msg) {
        await new Promise((r) => setTimeout(r, Math.random() * 5))
        return { headers: { 'X-N': msg.headers['x-n'] }, body: msg.body }
      },
    })
    const t = transport()
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        t.request(l.address, { headers: { 'X-N': String(i) }, body: utf8(`body-${i}`) }),
      ),
    )
    results.forEach((rsp, i) => {
      expect(rsp.headers['x-n']).toBe(String(i))
      expect(text(rsp.body)).toBe(`body-${i}`)
    })
  })

  it('moves a 4 MiB message both ways intact', async () => {
    const l = await serve(echo)
    const big = Buffer.alloc(4 * 1024 * 1024)
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff
    const rsp = await transport().request(l.address, { headers: {}, body: big })
    expect(rsp.body.length).toBe(big.length)
    expect(Buffer.compare(Buffer.from(rsp.body), big)).toBe(0)
  })

  it('round-trips headers case-insensitively, with UTF-8 values', async () => {
    let seen: Record<string, string> = {}
    const l = await serve({
      async request(msg) {
        seen = msg.headers
        return {
          headers: { 'X-Reply-Header': 'Hello', 'Micro-Error-Detail': 'Jürgen 名前 🙂' },
          body: new Uint8Array(),
        }
      },
    })
    const rsp = await transport().request(l.address, {
      headers: { 'Micro-ID': 'id-1', 'X-MiXeD-CaSe': 'Value', 'X-Unicode': 'ünïcödé 名前' },
      body: new Uint8Array(),
    })
    expect(seen['micro-id']).toBe('id-1')
    expect(seen['x-mixed-case']).toBe('Value')
    expect(seen['x-unicode']).toBe('ünïcödé 名前')
    expect(Object.keys(seen).every((k) => k === k.toLowerCase())).toBe(true)
    expect(rsp.headers['x-reply-header']).toBe('Hello')
    expect(rsp.headers['micro-error-detail']).toBe('Jürgen 名前 🙂')
    expect(Object.keys(rsp.headers).every((k) => k === k.toLowerCase())).toBe(true)
  })

  it('drops hop-by-hop headers a message carries instead of corrupting the request', async () => {
    let seen: Record<string, string> = {}
    const l = await serve({
      async request(msg) {
        seen = msg.headers
        return { headers: { Connection: 'close', 'Content-Length': '999', 'X-Ok': '1' }, body: utf8('hi') }
      },
    })
    const rsp = await transport().request(l.address, {
      headers: { Connection: 'close', 'Content-Length': '999', Host: 'elsewhere', 'X-Ok': '1' },
      body: utf8('abc'),
    })
    expect(seen['content-length']).toBe('3')
    expect(seen.host).toBe(l.address)
    expect(text(rsp.body)).toBe('hi')
    expect(rsp.headers['x-ok']).toBe('1')
  })

  it('answers a handler that throws with 200 and Micro-Error carrying the MicroError JSON', async () => {
    const l = await serve({
      async request() {
        throw new MicroError('greeter', 409, 'already exists: Jürgen')
      },
    })
    const rsp = await transport().request(l.address, { headers: {}, body: new Uint8Array() })
    expect(rsp.body.length).toBe(0)
    const err = MicroError.parse(rsp.headers['micro-error'])
    expect(err.toJSON()).toEqual({
      id: 'greeter',
      code: 409,
      detail: 'already exists: Jürgen',
      status: 'Conflict',
    })

    // A plain Error (even thrown synchronously) becomes a 500 from go.micro.server.
    const l2 = await serve({
      request() {
        throw new Error('boom')
      },
    })
    const { text: answer } = await raw(
      l2.address,
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    )
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(answer).toContain(
      'Micro-Error: {"id":"go.micro.server","code":500,"detail":"boom","status":"Internal Server Error"}',
    )
  })

  it('shortens a huge Micro-Error detail instead of breaking the answer', async () => {
    const l = await serve({
      async request() {
        throw new MicroError('svc', 422, 'x'.repeat(100_000))
      },
    })
    const rsp = await transport().request(l.address, { headers: {}, body: new Uint8Array() })
    const err = MicroError.parse(rsp.headers['micro-error'])
    expect(err.id).toBe('svc')
    expect(err.code).toBe(422)
    expect(err.detail.length).toBeLessThan(9_000)
    expect(err.detail).toMatch(/… \(truncated\)$/)
  })

  it('accepts request heads larger than node’s 16 KiB default (metadata travels as headers)', async () => {
    let seen = ''
    const l = await serve({
      async request(msg) {
        seen = msg.headers['x-big']
        return { headers: {}, body: new Uint8Array() }
      },
    })
    await transport().request(l.address, { headers: { 'X-Big': 'y'.repeat(30_000) }, body: new Uint8Array() })
    expect(seen.length).toBe(30_000)
  })

  it('reads every header of a valid head: Micro headers behind 2,500 others are seen (not node’s first 2,000)', async () => {
    let seen: Record<string, string> = {}
    const l = await serve({
      async request(msg) {
        seen = msg.headers
        return { headers: { 'Micro-Endpoint': msg.headers['micro-endpoint'] ?? 'missing' }, body: utf8('ok') }
      },
    })
    let head = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n'
    for (let i = 0; i < 2_500; i++) head += `X-Pad-${i}: v\r\n`
    head += 'Micro-Service: greeter\r\nMicro-Endpoint: Greeter.Hello\r\nConnection: close\r\n\r\n{}'
    expect(head.length).toBeLessThan(64 * 1024)
    const { text: answer } = await raw(l.address, head)
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(answer).toMatch(/\r\nMicro-Endpoint: Greeter\.Hello\r\n/)
    expect(seen['micro-service']).toBe('greeter')
    expect(Object.keys(seen).length).toBe(2_505)
  })

  it('reports connect refused as a TransportError with delivered=false', async () => {
    const address = await deadAddress()
    const err = await rejection(transport().request(address, { headers: {}, body: new Uint8Array() }))
    expect(err).toBeInstanceOf(TransportError)
    expect((err as TransportError).delivered).toBe(false)
    expect(err.detail).toContain(address)
    expect(err.detail).toContain('ECONNREFUSED')
  })

  it('rejects an invalid address as not delivered', async () => {
    const err = await rejection(transport().request('no-port-here', { headers: {}, body: new Uint8Array() }))
    expect(err).toBeInstanceOf(TransportError)
    expect((err as TransportError).delivered).toBe(false)
    expect(err.code).toBe(400)
  })

  it('reports a connection destroyed mid-request as a TransportError with delivered=true', async () => {
    const arrived = deferred()
    let socket: { destroy(): void } | undefined
    const { address } = await rawServer((s) => {
      socket = s
      s.once('data', () => arrived.resolve())
    })
    const pending = transport().request(address, { headers: {}, body: utf8('work') })
    await arrived.promise
    socket?.destroy() // like a SIGKILLed server: the kernel closes the socket
    const err = await rejection(pending)
    expect(err).toBeInstanceOf(TransportError)
    expect((err as TransportError).delivered).toBe(true)
    expect(err.detail).toContain(address)
  })

  it('gives the client an error promptly when the server closes, never a hang', async () => {
    const started = deferred()
    const l = await createHttpTransport().listen('127.0.0.1:0', {
      request: () => {
        started.resolve()
        return new Promise(() => {}) // never answers
      },
    })
    const t = transport()
    const pending = t.request(l.address, { headers: {}, body: new Uint8Array() })
    await started.promise
    const t0 = Date.now()
    await l.close(50)
    const err = await rejection(pending)
    expect(Date.now() - t0).toBeLessThan(2_000)
    expect(err).toBeInstanceOf(TransportError)
    expect((err as TransportError).delivered).toBe(true)
    // Nothing listens any more: the next request cannot be delivered.
    const next = await rejection(t.request(l.address, { headers: {}, body: new Uint8Array() }))
    expect((next as TransportError).delivered).toBe(false)
  })

  it('times out with 408 near the deadline, and the server-side signal fires', async () => {
    const aborted = deferred<unknown>()
    const l = await serve({
      request: (_msg, ctx: RequestContext) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            aborted.resolve(ctx.signal.reason)
            reject(ctx.signal.reason)
          })
        }),
    })
    const t0 = Date.now()
    const err = await rejection(
      transport().request(l.address, { headers: {}, body: new Uint8Array() }, { timeout: 200 }),
    )
    const took = Date.now() - t0
    expect(err.code).toBe(408)
    expect(took).toBeGreaterThanOrEqual(190)
    expect(took).toBeLessThan(1_500)
    const reason = (await aborted.promise) as MicroError
    expect([408, 499]).toContain(reason.code)
  })

  it('cancels with 499 through an AbortSignal, and the server sees the client go away', async () => {
    const started = deferred()
    const aborted = deferred<MicroError>()
    const l = await serve({
      request: (_msg, ctx) =>
        new Promise(() => {
          started.resolve()
          ctx.signal.addEventListener('abort', () => aborted.resolve(ctx.signal.reason as MicroError))
        }),
    })
    const ac = new AbortController()
    const pending = transport().request(
      l.address,
      { headers: {}, body: new Uint8Array() },
      { signal: ac.signal },
    )
    await started.promise
    ac.abort()
    const err = await rejection(pending)
    expect(err.code).toBe(499)
    expect((await aborted.promise).code).toBe(499)
    // An already-aborted signal never sends.
    const again = await rejection(
      transport().request(l.address, { headers: {}, body: new Uint8Array() }, { signal: ac.signal }),
    )
    expect(again.code).toBe(499)
  })

  it('reports the real address when listening on port 0', async () => {
    const l = await serve(echo, { address: '127.0.0.1:0' })
    expect(l.address).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(Number(l.address.split(':')[1])).toBeGreaterThan(0)
    const any = await serve(echo, { address: ':0' })
    const port = Number(any.address.slice(any.address.lastIndexOf(':') + 1))
    expect(port).toBeGreaterThan(0)
    const rsp = await transport().request(`127.0.0.1:${port}`, { headers: {}, body: utf8('x') })
    expect(text(rsp.body)).toBe('x')
  })

  it('rejects a body over the limit with 413, and serves the next request', async () => {
    const l = await serve(echo, { maxBodySize: 1024 })
    const t = transport()
    const rsp = await t.request(l.address, { headers: {}, body: new Uint8Array(64 * 1024) })
    const err = MicroError.parse(rsp.headers['micro-error'])
    expect(err.code).toBe(413)
    expect(err.detail).toContain('1024')
    expect(rsp.body.length).toBe(0)
    const ok = await t.request(l.address, { headers: {}, body: new Uint8Array(1024) })
    expect(ok.body.length).toBe(1024)
  })

  it('rejects a chunked body that grows over the limit with 413 and closes that connection', async () => {
    const l = await serve(echo, { maxBodySize: 1024 })
    const chunk = 'a'.repeat(600)
    const chunked = `${(600).toString(16)}\r\n${chunk}\r\n`
    const { text: answer, closed } = await raw(
      l.address,
      `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}${chunked}${chunked}0\r\n\r\n`,
    )
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(answer).toMatch(/Micro-Error: \{[^\r]*"code":413/)
    expect(answer).toMatch(/Connection: close/i)
    expect(closed).toBe(true)
    const ok = await transport().request(l.address, { headers: {}, body: utf8('still here') })
    expect(text(ok.body)).toBe('still here')
  })

  it('closes a connection that sends garbage and keeps serving', async () => {
    const l = await serve(echo)
    const { text: answer, closed } = await raw(
      l.address,
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a]),
    )
    expect(closed).toBe(true)
    expect(answer).toMatch(/^(HTTP\/1\.1 400|$)/)
    const bad = await raw(l.address, 'POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n')
    expect(bad.closed).toBe(true)
    const ok = await transport().request(l.address, { headers: {}, body: utf8('fine') })
    expect(text(ok.body)).toBe('fine')
  })

  it('pipelining: a valid request then garbage on one connection: its answer first, in order, then the 400, then close', async () => {
    const l = await serve({
      async request(msg) {
        await sleep(50) // the garbage is parsed long before this answer is ready
        return { headers: {}, body: msg.body }
      },
    })
    const valid = (body: string) =>
      `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`
    const { text: answer, closed } = await raw(
      l.address,
      `${valid('one')}${valid('two')}\x16\x03\x01 garbage\r\n\r\n`,
    )
    expect(closed).toBe(true)
    const statuses = [...answer.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1])
    expect(statuses).toEqual(['200', '200', '400'])
    const one = answer.indexOf('\r\n\r\none')
    const two = answer.indexOf('\r\n\r\ntwo')
    expect(one).toBeGreaterThan(0)
    expect(two).toBeGreaterThan(one)
    expect(answer.indexOf('HTTP/1.1 400')).toBeGreaterThan(two)
  })

  it('routes GET to the handler (health), 404 for unknown paths, 405 for other methods', async () => {
    const l = await serve({
      ...echo,
      async get(path) {
        if (path !== '/health') return undefined
        return { status: 200, headers: { 'Content-Type': 'application/json' }, body: utf8('{"status":"up"}') }
      },
    })
    const health = await fetch(`http://${l.address}/health?verbose=1`)
    expect(health.status).toBe(200)
    expect(await health.text()).toBe('{"status":"up"}')
    const missing = await fetch(`http://${l.address}/nope`)
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as { code: number }).code).toBe(404)
    const put = await fetch(`http://${l.address}/`, { method: 'PUT', body: 'x' })
    expect(put.status).toBe(405)
    expect(put.headers.get('allow')).toContain('POST')
    const wrongPath = await fetch(`http://${l.address}/Greeter/Hello`, { method: 'POST', body: '{}' })
    expect(wrongPath.status).toBe(200)
    expect(MicroError.parse(wrongPath.headers.get('micro-error') ?? '').code).toBe(404)
  })

  it('reports a non-RPC HTTP answer (e.g. a proxy error) with its status', async () => {
    const { address } = await rawServer((s) => {
      s.once('data', () =>
        s.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 11\r\nConnection: close\r\n\r\nupstream!!!'),
      )
    })
    const err = await rejection(transport().request(address, { headers: {}, body: new Uint8Array() }))
    expect(err.code).toBe(502)
    expect(err.detail).toContain('upstream')
  })

  it('lets in-flight requests finish on close(grace), refusing new connections', async () => {
    const gate = deferred()
    const l = await createHttpTransport().listen('127.0.0.1:0', {
      async request(msg) {
        await gate.promise
        return { headers: {}, body: msg.body }
      },
    })
    const t = transport()
    const pending = t.request(l.address, { headers: {}, body: utf8('late') })
    await new Promise((r) => setTimeout(r, 50))
    const closed = l.close(5_000)
    await new Promise((r) => setTimeout(r, 50))
    const other = transport()
    const refused = await rejection(other.request(l.address, { headers: {}, body: new Uint8Array() }))
    expect((refused as TransportError).delivered).toBe(false)
    gate.resolve()
    expect(text((await pending).body)).toBe('late')
    await closed
  })

  it('closes promptly when only idle keep-alive connections remain', async () => {
    const l = await createHttpTransport().listen('127.0.0.1:0', echo)
    const t = transport()
    await Promise.all(Array.from({ length: 8 }, () => t.request(l.address, { headers: {}, body: utf8('x') })))
    const t0 = Date.now()
    await l.close(10_000)
    expect(Date.now() - t0).toBeLessThan(1_000)
  })

  it('answers a request sent on an idle keep-alive connection as close() begins instead of resetting it', async () => {
    const l = await createHttpTransport().listen('127.0.0.1:0', echo)
    const t = transport()
    // One pooled connection, idle once this answer is in; the next request reuses it.
    expect(text((await t.request(l.address, { headers: {}, body: utf8('warm') })).body)).toBe('warm')
    await sleep(50) // the pool has taken the connection back
    const closed = l.close(5_000)
    // Written at once, on the idle connection (node's http close would have dropped it under the request).
    const late = await t.request(l.address, { headers: {}, body: utf8('late') })
    expect(text(late.body)).toBe('late')
    const t0 = Date.now()
    await closed
    // Quiet afterwards: the idle connection goes soon after, well within the grace.
    expect(Date.now() - t0).toBeLessThan(2_000)
  })

  it('fails to listen on an address in use with a clear error', async () => {
    const l = await serve(echo)
    const err = await rejection(createHttpTransport().listen(l.address, echo))
    expect(err.detail).toContain(`cannot listen on ${l.address}`)
    expect(err.detail).toContain('EADDRINUSE')
    await expect(createHttpTransport().listen('nonsense', echo)).rejects.toThrow(/invalid address/)
  })

  it('rejects a response bigger than maxResponseSize', async () => {
    const l = await serve({
      async request() {
        return { headers: {}, body: new Uint8Array(10_000) }
      },
    })
    const err = await rejection(
      transport({ maxResponseSize: 1_000 }).request(l.address, { headers: {}, body: new Uint8Array() }),
    )
    expect(err.code).toBe(413)
  })
})

async function collect(stream: { recv(): Promise<TransportMessage | undefined> }): Promise<string[]> {
  const out: string[] = []
  for (;;) {
    const m = await stream.recv()
    if (!m) return out
    out.push(text(m.body))
  }
}

describe('http transport: streams', () => {
  it('keeps order both ways and ends cleanly when the client closes its side first', async () => {
    let openHeaders: Record<string, string> = {}
    const l = await serve({
      ...echo,
      async stream(stream) {
        openHeaders = stream.headers
        for (;;) {
          const m = await stream.recv()
          if (!m) break
          await stream.send({ headers: { 'X-Seq': m.headers['x-seq'] }, body: m.body })
        }
        await stream.send({ headers: {}, body: utf8('done') })
      },
    })
    const s = await transport().stream(l.address, {
      headers: { 'Micro-Stream': '1', 'Micro-Endpoint': 'S.Echo' },
      body: new Uint8Array(),
    })
    const received = collect(s)
    for (let i = 0; i < 500; i++) await s.send({ headers: { 'X-Seq': String(i) }, body: utf8(`m${i}`) })
    await s.closeSend()
    const got = await received
    expect(got).toEqual([...Array.from({ length: 500 }, (_, i) => `m${i}`), 'done'])
    expect(openHeaders['micro-stream']).toBe('1')
    expect(openHeaders['micro-endpoint']).toBe('S.Echo')
    expect(await s.recv()).toBeUndefined()
  })

  it('ends cleanly when the server ends first; the client then cannot send', async () => {
    const l = await serve({
      ...echo,
      async stream(stream) {
        const first = await stream.recv()
        await stream.send({ headers: {}, body: first?.body ?? new Uint8Array() })
        await stream.send({ headers: {}, body: utf8('bye') })
      },
    })
    const s = await transport().stream(l.address, { headers: {}, body: utf8('opening body') })
    expect(await collect(s)).toEqual(['opening body', 'bye'])
    await new Promise((r) => setTimeout(r, 50))
    await expect(s.send({ headers: {}, body: utf8('late') })).rejects.toBeInstanceOf(MicroError)
    await s.close()
  })

  it('moves large messages in order under backpressure', async () => {
    const l = await serve({
      ...echo,
      async stream(stream) {
        for (;;) {
          const m = await stream.recv()
          if (!m) return
          await stream.send(m)
        }
      },
    })
    const s = await transport().stream(l.address, { headers: {}, body: new Uint8Array() })
    const size = 1024 * 1024
    const sends = (async () => {
      for (let i = 0; i < 20; i++) await s.send({ headers: {}, body: Buffer.alloc(size, i) })
      await s.closeSend()
    })()
    const got: number[] = []
    for (;;) {
      const m = await s.recv()
      if (!m) break
      expect(m.body.length).toBe(size)
      got.push(m.body[size - 1])
    }
    await sends
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i))
  })

  it('rejects recv with the MicroError the server ended with', async () => {
    const l = await serve({
      ...echo,
      async stream(stream) {
        await stream.send({ headers: {}, body: utf8('one') })
        throw new MicroError('svc', 403, 'not yours')
      },
    })
    const s = await transport().stream(l.address, { headers: {}, body: new Uint8Array() })
    expect(text((await s.recv())?.body ?? new Uint8Array())).toBe('one')
    const err = await rejection(s.recv())
    expect(err.toJSON()).toEqual({ id: 'svc', code: 403, detail: 'not yours', status: 'Forbidden' })
  })

  it('answers 501 when the server has no stream handler', async () => {
    const l = await serve(echo)
    const s = await transport().stream(l.address, { headers: {}, body: new Uint8Array() })
    expect((await rejection(s.recv())).code).toBe(501)
  })

  it('fires the server signal when the client tears the stream down', async () => {
    const aborted = deferred<MicroError>()
    const opened = deferred()
    const l = await serve({
      ...echo,
      async stream(stream, ctx) {
        opened.resolve()
        ctx.signal.addEventListener('abort', () => aborted.resolve(ctx.signal.reason as MicroError))
        await expect(stream.recv()).rejects.toBeInstanceOf(MicroError)
      },
    })
    const s = await transport().stream(l.address, { headers: {}, body: new Uint8Array() })
    await opened.promise
    await s.close()
    expect((await aborted.promise).code).toBe(499)
    await expect(s.recv()).rejects.toBeInstanceOf(MicroError)
  })

  it('applies the deadline to the whole stream (408) on both sides', async () => {
    const aborted = deferred<MicroError>()
    const l = await serve({
      ...echo,
      async stream(stream) {
        stream.signal.addEventListener('abort', () => aborted.resolve(stream.signal.reason as MicroError))
        await stream.recv().catch(() => {})
      },
    })
    const s = await transport().stream(l.address, { headers: {}, body: new Uint8Array() }, { timeout: 150 })
    const t0 = Date.now()
    const err = await rejection(s.recv())
    expect(err.code).toBe(408)
    expect(Date.now() - t0).toBeLessThan(1_500)
    expect([408, 499]).toContain((await aborted.promise).code)
  })

  it('rejects a stream message over the server limit with 413', async () => {
    const l = await serve(
      {
        ...echo,
        async stream(stream) {
          await stream.recv().catch(() => {})
        },
      },
      { maxBodySize: 1024 },
    )
    const s = await transport().stream(l.address, { headers: {}, body: new Uint8Array() })
    await s.send({ headers: {}, body: new Uint8Array(4096) }).catch(() => {})
    expect((await rejection(s.recv())).code).toBe(413)
  })

  it('reports connect refused for streams as not delivered', async () => {
    const err = await rejection(
      transport().stream(await deadAddress(), { headers: {}, body: new Uint8Array() }),
    )
    expect((err as TransportError).delivered).toBe(false)
  })

  it('cuts streams off when the listener closes past its grace period', async () => {
    const opened = deferred()
    const l = await createHttpTransport().listen('127.0.0.1:0', {
      ...echo,
      async stream(stream) {
        opened.resolve()
        await stream.recv().catch(() => {})
      },
    })
    const s = await transport().stream(l.address, { headers: {}, body: new Uint8Array() })
    await opened.promise
    await l.close(50)
    await expect(s.recv()).rejects.toBeInstanceOf(MicroError)
  })
})

/** A minimal HTTP/1.1 request reader for the fake go-micro peers below: heads and Content-Length bodies. */
function requestReader(
  onRequest: (line: string, headers: Record<string, string>, body: Buffer) => void,
  onExpect: () => void = () => {},
) {
  let buf = Buffer.alloc(0)
  let continued = false
  return (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk])
    for (;;) {
      const end = buf.indexOf('\r\n\r\n')
      if (end === -1) return
      const lines = buf.toString('latin1', 0, end).split('\r\n')
      const headers: Record<string, string> = {}
      for (const l of lines.slice(1))
        headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim()
      const length = Number(headers['content-length'] ?? 0)
      if (buf.length < end + 4 + length) {
        // Expect: 100-continue: the body follows only once the server said so.
        if (headers.expect && !continued) {
          continued = true
          onExpect()
        }
        return
      }
      continued = false
      const body = buf.subarray(end + 4, end + 4 + length)
      buf = buf.subarray(end + 4 + length)
      onRequest(lines[0], headers, body)
    }
  }
}

describe("http transport: go-micro's stream flavour", () => {
  it('serves a go-micro client: POSTs in, 200 responses out, EOS at the end', async () => {
    const received: string[] = []
    let open: Record<string, string> = {}
    const l = await serve({
      ...echo,
      async stream(stream) {
        open = stream.headers
        for (;;) {
          const m = await stream.recv()
          if (!m) break
          received.push(text(m.body))
          await stream.send({
            headers: { 'Content-Type': 'application/json' },
            body: utf8(`{"greeting":"Hello ${received.length}"}`),
          })
        }
      },
    })
    const socket = rawSocket(l.address)
    const post = (body: string, extra = '') =>
      `POST / HTTP/1.1\r\nHost: ${l.address}\r\nContent-Type: application/json\r\nMicro-Service: greeter\r\n` +
      `Micro-Endpoint: Greeter.Stream\r\nMicro-Id: 0\r\nMicro-Stream: 0\r\n${extra}Content-Length: ${body.length}\r\n\r\n${body}`
    let replies = ''
    socket.on('data', (c) => {
      replies += c.toString('latin1')
    })
    // The opening request's body is the call's request: go-micro's server discards it for streams.
    socket.write(post('{}') + post('{"name":"a"}'))
    await new Promise((r) => setTimeout(r, 50))
    socket.write(post('{"name":"b"}'))
    await new Promise((r) => setTimeout(r, 50))
    socket.write(post('', 'Micro-Error: EOS\r\n'))
    await once(socket, 'close')
    expect(received).toEqual(['{"name":"a"}', '{"name":"b"}'])
    expect(open['micro-stream']).toBe('0')
    const responses = replies.split('HTTP/1.1 ').slice(1)
    expect(responses).toHaveLength(3)
    expect(responses[0]).toMatch(/^200 OK\r\n/)
    expect(responses[0]).toMatch(/\r\nMicro-Stream: 0\r\n/i) // the opening request's headers are echoed
    expect(responses[0].endsWith('\r\n\r\n{"greeting":"Hello 1"}')).toBe(true)
    expect(responses[1].endsWith('{"greeting":"Hello 2"}')).toBe(true)
    expect(responses[2]).toMatch(/\r\nMicro-Error: EOS\r\n/)
    expect(responses[2]).toMatch(/\r\nContent-Length: 0\r\n/)
    // The server is still serving ordinary requests.
    expect(text((await transport().request(l.address, { headers: {}, body: utf8('ok') })).body)).toBe('ok')
  })

  it('ends a go-micro client stream with the handler error in Micro-Error', async () => {
    const l = await serve({
      ...echo,
      async stream() {
        throw new MicroError('greeter.stream', 400, 'bad name fail')
      },
    })
    const { text: answer } = await raw(
      l.address,
      `POST / HTTP/1.1\r\nHost: x\r\nMicro-Stream: 1\r\nContent-Length: 2\r\n\r\n{}`,
      1_000,
    )
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(answer).toContain(
      'Micro-Error: {"id":"greeter.stream","code":400,"detail":"bad name fail","status":"Bad Request"}',
    )
  })

  it('streams to a go-micro server: 100 Continue, then POST per message and a response per reply', async () => {
    const requests: { line: string; headers: Record<string, string>; body: string }[] = []
    const { address } = await rawServer((s) => {
      s.on(
        'data',
        requestReader(
          (line, headers, body) => {
            requests.push({ line, headers, body: body.toString() })
            if (requests.length === 1) return // go-micro discards the opening body of a stream
            if (headers['micro-error'] === 'EOS') {
              s.write('HTTP/1.1 200 OK\r\nMicro-Error: EOS\r\nContent-Length: 0\r\n\r\n')
              return
            }
            const reply = `{"greeting":"Hello ${JSON.parse(body.toString()).name}"}\n`
            s.write(
              `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${reply.length}\r\n\r\n${reply}`,
            )
          },
          // Go's server answers Expect: 100-continue when go-micro's handler reads the body.
          () => s.write('HTTP/1.1 100 Continue\r\n\r\n'),
        ),
      )
    })
    const s = await transport().stream(address, {
      headers: {
        'Content-Type': 'application/json',
        'Micro-Stream': '7',
        'Micro-Endpoint': 'Greeter.Stream',
      },
      body: new Uint8Array(),
    })
    await s.send({ headers: { 'Content-Type': 'application/json' }, body: utf8('{"name":"a"}') })
    expect(text((await s.recv())?.body ?? new Uint8Array())).toBe('{"greeting":"Hello a"}\n')
    await s.send({ headers: { 'Content-Type': 'application/json' }, body: utf8('{"name":"b"}') })
    expect(text((await s.recv())?.body ?? new Uint8Array())).toBe('{"greeting":"Hello b"}\n')
    await s.closeSend()
    expect(await s.recv()).toBeUndefined()
    await s.close()
    expect(requests[0].line).toBe('POST / HTTP/1.1')
    expect(requests[0].headers.expect).toBe('100-continue')
    expect(requests[0].headers['micro-stream']).toBe('7')
    expect(requests[0].headers.upgrade).toBe('micro-stream')
    expect(requests[0].body).toBe('{}')
    expect(requests.slice(1).map((r) => [r.line, r.headers['micro-stream'], r.body])).toEqual([
      ['POST / HTTP/1.1', '7', '{"name":"a"}'],
      ['POST / HTTP/1.1', '7', '{"name":"b"}'],
      ['POST / HTTP/1.1', '7', ''],
    ])
    expect(requests[3].headers['micro-error']).toBe('EOS')
  })

  it('rejects recv with the error a go-micro server ends the stream with', async () => {
    const { address } = await rawServer((s) => {
      let n = 0
      s.on(
        'data',
        requestReader(
          () => {
            if (n++ === 0) return
            const e = '{"id":"greeter.stream","code":400,"detail":"bad name fail","status":"Bad Request"}'
            s.write(
              `HTTP/1.1 200 OK\r\nMicro-Error: ${e}\r\nX-Micro-Error: ${e}\r\nContent-Length: 0\r\n\r\n`,
            )
          },
          () => s.write('HTTP/1.1 100 Continue\r\n\r\n'),
        ),
      )
    })
    const s = await transport().stream(address, { headers: {}, body: new Uint8Array() })
    await s.send({ headers: {}, body: utf8('{"name":"fail"}') })
    const err = await rejection(s.recv())
    expect(err.toJSON()).toEqual({
      id: 'greeter.stream',
      code: 400,
      detail: 'bad name fail',
      status: 'Bad Request',
    })
  })

  it('reports a server that refuses the stream with its error', async () => {
    const { address } = await rawServer((s) => {
      s.once('data', () =>
        s.end(
          'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found',
        ),
      )
    })
    const err = await rejection(transport().stream(address, { headers: {}, body: new Uint8Array() }))
    expect(err.code).toBe(404)
  })
})
