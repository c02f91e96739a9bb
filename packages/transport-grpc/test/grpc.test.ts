/**
 * Backend-specific tests of the gRPC transport: go-micro's protocol as raw grpc-js peers see it,
 * connections (channel pool, unreachable and hung servers, restarts, keep-alive), sizes, headers,
 * streams and TLS. Real sockets on 127.0.0.1.
 */
import { readFileSync } from 'node:fs'
import * as grpc from '@grpc/grpc-js'
import { MicroError, TransportError, type TransportHandler, type TransportMessage } from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import type { GrpcTlsOptions } from '../src/index.js'
import type { WireMessage } from '../src/message.js'
import {
  defer,
  echo,
  message,
  proxy,
  rawCall,
  rawClient,
  rawServer,
  rejection,
  serve,
  silentServer,
  sleep,
  text,
  transport,
  utf8,
} from './helpers.js'

describe("go-micro's protocol on the wire", () => {
  it('a plain grpc-js client gets one answer per message on one call, headers in go-micro spelling', async () => {
    const seen: Record<string, string>[] = []
    const { address } = await serve({
      async request(m) {
        seen.push(m.headers)
        return {
          headers: {
            'content-type': 'application/json',
            'x-trace-tag': 't',
            'micro-id': m.headers['micro-id'],
          },
          body: m.body,
        }
      },
    })
    const raw = rawCall(rawClient(address))
    for (const id of ['1', '2', '3']) {
      raw.send(
        { 'Micro-ID': id, 'Micro-Service': 'greeter', 'Content-Type': 'application/json' },
        `{"n":${id}}`,
      )
      const answer = await raw.next()
      expect(text(answer.body)).toBe(`{"n":${id}}`)
      expect(answer.header).toEqual({
        'Content-Type': 'application/json',
        'X-Trace-Tag': 't',
        'Micro-ID': id,
      })
    }
    // Received names are lower-cased for the handler.
    expect(seen.map((h) => h['micro-id'])).toEqual(['1', '2', '3'])
    expect(seen[0]['micro-service']).toBe('greeter')
    raw.call.end() // go-micro's client closes the socket; the server ends the call cleanly
    expect((await raw.status).code).toBe(grpc.status.OK)
  })

  it('our client reuses one call for sequential requests and sends go-micro header spellings', async () => {
    let calls = 0
    const headers: Record<string, string>[] = []
    const address = await rawServer((call) => {
      calls++
      call.on('data', (m: WireMessage) => {
        headers.push(m.header)
        call.write({ header: { 'Content-Type': 'text/plain' }, body: m.body })
      })
      call.on('end', () => call.end())
      call.on('error', () => {})
    })
    const client = transport({ poolSize: 1 })
    for (let i = 0; i < 3; i++) {
      const rsp = await client.request(
        address,
        message(`r${i}`, {
          'micro-id': `${i}`,
          'Micro-Service': 's',
          'content-type': 'a/b',
          'x-custom-thing': 'v',
          // The RPC client writes go-micro's deadline header; the transport carries it as it is.
          timeout: '5000000000',
        }),
        { timeout: 5_000 },
      )
      expect(text(rsp.body)).toBe(`r${i}`)
      expect(rsp.headers).toEqual({ 'content-type': 'text/plain' })
    }
    expect(calls).toBe(1)
    expect(Object.keys(headers[0]).sort()).toEqual(
      ['Content-Type', 'Micro-ID', 'Micro-Service', 'Timeout', 'X-Custom-Thing'].sort(),
    )
    expect(headers[0].Timeout).toBe('5000000000')
    // A request timeout alone is the client's own timer: the transport writes no header of its own.
    await client.request(address, message('plain'), { timeout: 5_000 })
    expect(headers[3].Timeout).toBeUndefined()
  })

  it('messages sent without waiting on one call are answered in order', async () => {
    const { address } = await serve({
      async request(m) {
        await sleep(text(m.body) === 'first' ? 50 : 1)
        return { headers: {}, body: m.body }
      },
    })
    const raw = rawCall(rawClient(address))
    for (const b of ['first', 'second', 'third']) raw.send({ 'Micro-ID': b }, b)
    const answers = [await raw.next(), await raw.next(), await raw.next()]
    expect(answers.map((a) => text(a.body))).toEqual(['first', 'second', 'third'])
  })

  it('`Connection: close` ends the call after the answer (go-micro), marked unprocessed beyond it', async () => {
    const { address } = await serve(echo)
    const raw = rawCall(rawClient(address))
    raw.send({ Connection: 'close' }, 'last')
    expect(text((await raw.next()).body)).toBe('last')
    const st = await raw.status
    expect(st.code).toBe(grpc.status.OK)
    expect(st.metadata.get('micro-unprocessed')).toEqual(['1'])
  })

  it('a go-micro stream: Micro-Stream opens it (its body discarded), EOS ends each side', async () => {
    const got: string[] = []
    let opening: Record<string, string> = {}
    const { address } = await serve({
      ...echo,
      async stream(s) {
        opening = s.headers
        for (let m = await s.recv(); m; m = await s.recv()) {
          got.push(text(m.body))
          await s.send(message(`re:${text(m.body)}`))
        }
        await s.close()
      },
    })
    const raw = rawCall(rawClient(address))
    const base = {
      'Micro-Stream': '7',
      'Micro-Endpoint': 'Greeter.Stream',
      'Content-Type': 'application/json',
    }
    raw.send(base, '{}') // go-micro's client sends the call's request first; its server ignores it
    raw.send(base, 'a')
    expect(text((await raw.next()).body)).toBe('re:a')
    raw.send(base, 'b')
    expect(text((await raw.next()).body)).toBe('re:b')
    raw.send({ ...base, 'Micro-Error': 'EOS' })
    const end = await raw.next()
    expect(end.header['Micro-Error']).toBe('EOS')
    expect(got).toEqual(['a', 'b'])
    expect(opening['micro-endpoint']).toBe('Greeter.Stream')
    raw.call.end()
    expect((await raw.status).code).toBe(grpc.status.OK)
  })

  it('a stream handler error travels as the error JSON in Micro-Error', async () => {
    const { address } = await serve({
      ...echo,
      async stream() {
        throw new MicroError('greeter.stream', 400, 'bad name')
      },
    })
    const raw = rawCall(rawClient(address))
    raw.send({ 'Micro-Stream': '1' })
    const end = await raw.next()
    expect(JSON.parse(end.header['Micro-Error'])).toEqual({
      id: 'greeter.stream',
      code: 400,
      detail: 'bad name',
      status: 'Bad Request',
    })
  })

  it('malformed protobuf fails that call only; the server keeps serving', async () => {
    const { address } = await serve(echo)
    const raw = rawCall(rawClient(address), () => Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]))
    raw.send({})
    expect((await raw.status).code).not.toBe(grpc.status.OK)
    expect(text((await transport().request(address, message('still here'))).body)).toBe('still here')
  })

  it('a gRPC server without go-micro’s service: 501, not delivered', async () => {
    const address = await rawServer(() => {}, false)
    const err = await rejection(transport().request(address, message('x')))
    expect(err).toBeInstanceOf(TransportError)
    expect(err.code).toBe(501)
    expect(err.delivered).toBe(false)
  })

  it('a socket ended with the unprocessed trailer means not delivered; ended without it, maybe delivered', async () => {
    const address = await rawServer((call) => {
      call.on('data', (m: WireMessage) => {
        const trailer = new grpc.Metadata()
        if (text(m.body) === 'unprocessed') trailer.set('micro-unprocessed', '1')
        call.end(trailer)
      })
      call.on('error', () => {})
    })
    const client = transport()
    const refused = await rejection(client.request(address, message('unprocessed')))
    expect(refused).toBeInstanceOf(TransportError)
    expect(refused.delivered).toBe(false)
    const unknown = await rejection(client.request(address, message('other')))
    expect(unknown).toBeInstanceOf(TransportError)
    expect(unknown.delivered).toBe(true)
  })
})

describe('connections', () => {
  it('requests spread over `poolSize` HTTP/2 connections, each carrying many calls', async () => {
    for (const channels of [1, 3]) {
      const remotes = new Set<string>()
      const { address } = await serve({
        async request(m, ctx) {
          remotes.add(ctx.remote)
          await sleep(20)
          return { headers: {}, body: m.body }
        },
      })
      const client = transport({ poolSize: channels })
      await Promise.all(Array.from({ length: 60 }, (_, i) => client.request(address, message(`${i}`))))
      expect(remotes.size).toBe(channels)
    }
  })

  it('nothing listening: a TransportError marked not delivered, within the connect timeout', async () => {
    const { listener, address } = await serve(echo)
    await listener.close(0)
    const started = Date.now()
    const err = await rejection(transport({ connectTimeout: 2_000 }).request(address, message('x')))
    expect(err).toBeInstanceOf(TransportError)
    expect(err.delivered).toBe(false)
    expect(Date.now() - started).toBeLessThan(2_000)
  })

  it('a peer that accepts TCP and never speaks HTTP/2: not delivered once the connect timeout passes', async () => {
    const address = await silentServer()
    const err = await rejection(transport({ connectTimeout: 300 }).request(address, message('x')))
    expect(err).toBeInstanceOf(TransportError)
    expect(err.delivered).toBe(false)
    expect(String(err.detail)).toContain('connect timeout')
  })

  it('a server restarted on the same port is used again at once (no reconnect backoff)', async () => {
    const { listener, address } = await serve(echo)
    const client = transport({ poolSize: 2 })
    expect(text((await client.request(address, message('before'))).body)).toBe('before')
    await listener.close(0)
    for (let i = 0; i < 3; i++) {
      expect((await rejection(client.request(address, message('down')))).delivered).toBe(false)
    }
    await serve(echo, {}, {}, address)
    for (let i = 0; i < 4; i++)
      expect(text((await client.request(address, message(`after${i}`))).body)).toBe(`after${i}`)
  })

  it('close(grace) ends idle pooled sockets; the next request fails as not delivered instead of hanging', async () => {
    const { listener, address } = await serve(echo)
    const client = transport({ poolSize: 1, connectTimeout: 2_000 })
    await Promise.all([1, 2, 3].map((i) => client.request(address, message(`${i}`))))
    await listener.close(5_000) // returns once the idle sockets are gone: nothing was in flight
    const err = await rejection(client.request(address, message('after')))
    expect(err).toBeInstanceOf(TransportError)
    expect(err.delivered).toBe(false)
  })

  it('keep-alive pings find a peer that went silent: the request fails instead of hanging', async () => {
    const { address } = await serve({ request: () => new Promise<TransportMessage>(() => {}) })
    const link = await proxy(address)
    const client = transport({ keepaliveTime: 200, keepaliveTimeout: 200, poolSize: 1 })
    const pending = client.request(link.address, message('x'))
    await sleep(100)
    link.freeze()
    const err = await rejection(pending)
    expect(err).toBeInstanceOf(TransportError)
    expect(err.delivered).toBe(true)
  })

  it('close() on the client rejects new requests as not delivered', async () => {
    const { address } = await serve(echo)
    const client = transport()
    await client.request(address, message('x'))
    await client.close()
    const err = await rejection(client.request(address, message('y')))
    expect(err.delivered).toBe(false)
  })
})

describe('message sizes', () => {
  it('8 MiB (twice gRPC’s own 4 MiB default) round-trips with the default options', async () => {
    const { address } = await serve(echo)
    const body = Buffer.alloc(8 * 1024 * 1024, 7)
    const rsp = await transport().request(address, message(body))
    expect(Buffer.compare(Buffer.from(rsp.body), body)).toBe(0)
  })

  it('a body above the client’s maxMessageSize is refused before sending: 413, not delivered', async () => {
    let calls = 0
    const { address } = await serve({
      async request(m) {
        calls++
        return m
      },
    })
    const err = await rejection(
      transport({ maxMessageSize: 1024 }).request(address, message(Buffer.alloc(2048))),
    )
    expect(err.code).toBe(413)
    expect(err.delivered).toBe(false)
    expect(calls).toBe(0)
  })

  it('the listener’s maxBodySize: 413 answers, for slightly and for far too large bodies; it keeps serving', async () => {
    const { address } = await serve(echo, {}, { maxBodySize: 1024 })
    const client = transport()
    // Within gRPC's limit (body limit + 1 MiB for headers): our 413 answer on the same socket.
    const near = await client.request(address, message(Buffer.alloc(4096)))
    expect(MicroError.parse(near.headers['micro-error']).code).toBe(413)
    // Beyond it: gRPC refuses the message itself.
    const far = await rejection(client.request(address, message(Buffer.alloc(2 * 1024 * 1024))))
    expect(far.code).toBe(413)
    expect(text((await client.request(address, message('small'))).body)).toBe('small')
  })

  it('an answer above the client’s maxMessageSize: 413', async () => {
    const { address } = await serve({ request: async () => message(Buffer.alloc(4096)) })
    const err = await rejection(transport({ maxMessageSize: 1024 }).request(address, message('x')))
    expect(err.code).toBe(413)
  })
})

describe('headers', () => {
  it('names are case-insensitive (lower-cased on receipt); values keep unicode and punctuation', async () => {
    let seen: Record<string, string> = {}
    const { address } = await serve({
      async request(m) {
        seen = m.headers
        return message('ok', { 'X-Back': 'zurück ✓', 'MICRO-ID': 'abc' })
      },
    })
    const rsp = await transport().request(address, message('x', { 'X-Mixed-CASE': 'Wert: ü = ✓; "q"' }))
    expect(seen['x-mixed-case']).toBe('Wert: ü = ✓; "q"')
    expect(rsp.headers).toEqual({ 'x-back': 'zurück ✓', 'micro-id': 'abc' })
  })
})

describe('streams', () => {
  const echoStream: TransportHandler = {
    ...echo,
    async stream(s) {
      for (let m = await s.recv(); m; m = await s.recv()) await s.send(m)
      await s.close()
    },
  }

  it('500 messages each way keep their order while both sides send at once', async () => {
    const { address } = await serve(echoStream)
    const stream = await transport().stream(address, message(''))
    const sent = Array.from({ length: 500 }, (_, i) => `m${i}`)
    const receiving = (async () => {
      const out: string[] = []
      for (let m = await stream.recv(); m; m = await stream.recv()) out.push(text(m.body))
      return out
    })()
    for (const s of sent) await stream.send(message(s))
    await stream.closeSend()
    expect(await receiving).toEqual(sent)
  })

  it('the server may end first; the client then reads the end and closes', async () => {
    const { address } = await serve({
      ...echo,
      async stream(s) {
        await s.send(message('only'))
        await s.close()
      },
    })
    const stream = await transport().stream(address, message(''))
    expect(text((await stream.recv())?.body)).toBe('only')
    expect(await stream.recv()).toBeUndefined()
    await stream.close()
  })

  it('an opening body arrives as the first message', async () => {
    const { address } = await serve(echoStream)
    const stream = await transport().stream(address, message('opening'))
    await stream.closeSend()
    expect(text((await stream.recv())?.body)).toBe('opening')
    expect(await stream.recv()).toBeUndefined()
  })

  it('a deadline ends the stream with 408 on both sides', async () => {
    let serverSignal: AbortSignal | undefined
    const { address } = await serve({
      ...echo,
      async stream(s) {
        serverSignal = s.signal
        await new Promise((r) => s.signal.addEventListener('abort', r))
      },
    })
    const stream = await transport().stream(address, message(''), { timeout: 200 })
    const err = await rejection(stream.recv())
    expect(err.code).toBe(408)
    await sleep(200)
    expect(serverSignal?.aborted).toBe(true)
  })

  it('aborting the signal ends the stream with 499', async () => {
    const { address } = await serve(echoStream)
    const abort = new AbortController()
    const stream = await transport().stream(address, message(''), { signal: abort.signal })
    await stream.send(message('x'))
    expect(text((await stream.recv())?.body)).toBe('x')
    abort.abort()
    expect((await rejection(stream.recv())).code).toBe(499)
  })

  it('a stream to an address where nothing listens: not delivered', async () => {
    const { listener, address } = await serve(echoStream)
    await listener.close(0)
    const err = await rejection(transport().stream(address, message('')))
    expect(err).toBeInstanceOf(TransportError)
    expect(err.delivered).toBe(false)
  })
})

describe('TLS', () => {
  const fixture = (name: string) => readFileSync(new URL(`./fixtures/tls/${name}`, import.meta.url), 'utf8')
  const server: GrpcTlsOptions = { cert: fixture('server.pem'), key: fixture('server-key.pem') }

  it('with the CA that signed the server certificate, requests and streams work', async () => {
    const { address } = await serve(echo, { tls: server })
    const client = transport({ tls: { ca: fixture('ca.pem') } })
    expect(text((await client.request(address, message('secret'))).body)).toBe('secret')
  })

  it('files work like PEM text; serverName checks a name other than the address', async () => {
    const dir = new URL('./fixtures/tls/', import.meta.url).pathname
    const { address } = await serve(echo, {
      tls: { certFile: `${dir}server.pem`, keyFile: `${dir}server-key.pem` },
    })
    const port = address.slice(address.lastIndexOf(':') + 1)
    const client = transport({ tls: { caFile: `${dir}ca.pem`, serverName: 'localhost' } })
    expect(text((await client.request(`127.0.0.1:${port}`, message('named'))).body)).toBe('named')
  })

  it('a server certificate the client cannot verify: not delivered (nothing was sent)', async () => {
    let calls = 0
    const { address } = await serve(
      {
        async request(m) {
          calls++
          return m
        },
      },
      { tls: server },
    )
    const err = await rejection(
      transport({ tls: { ca: fixture('other-ca.pem') } }).request(address, message('x')),
    )
    expect(err).toBeInstanceOf(TransportError)
    expect(err.delivered).toBe(false)
    expect(String(err.detail)).toContain('TLS')
    expect(calls).toBe(0)
  })

  it('insecureSkipVerify accepts an unverifiable certificate (go-micro’s default client)', async () => {
    const { address } = await serve(echo, { tls: server })
    const client = transport({ tls: { ca: fixture('other-ca.pem'), insecureSkipVerify: true } })
    expect(text((await client.request(address, message('anyway'))).body)).toBe('anyway')
  })

  it('a server with `ca` requires client certificates', async () => {
    const { address } = await serve(echo, { tls: { ...server, ca: fixture('ca.pem') } })
    const without = await rejection(
      transport({ tls: { ca: fixture('ca.pem') } }).request(address, message('x')),
    )
    expect(without).toBeInstanceOf(TransportError)
    expect(without.delivered).toBe(false)
    const withCert = transport({
      tls: { ca: fixture('ca.pem'), cert: fixture('client.pem'), key: fixture('client-key.pem') },
    })
    expect(text((await withCert.request(address, message('mutual'))).body)).toBe('mutual')
  })

  it('a plaintext client cannot talk to a TLS server, and the reverse', async () => {
    const tlsServer = await serve(echo, { tls: server })
    const toTls = await rejection(transport().request(tlsServer.address, message('x')))
    expect(toTls.delivered).toBe(false)
    expect(String(toTls.detail)).toContain('TLS')
    const plain = await serve(echo)
    const err = await rejection(
      transport({ tls: { ca: fixture('ca.pem') } }).request(plain.address, message('x')),
    )
    expect(err.delivered).toBe(false)
  })

  it('bad TLS options are a clear 400 error', async () => {
    // A listener needs its certificate and key.
    await expect(
      transport({ tls: { ca: fixture('ca.pem') } }).listen('127.0.0.1:0', echo),
    ).rejects.toMatchObject({
      code: 400,
      detail: expect.stringContaining('tls.cert and tls.key'),
    })
    expect(() => transport({ tls: { caFile: '/nonexistent/ca.pem' } })).toThrow(/caFile/)
    // One `tls` serves both roles: a certificate without its key is refused at once.
    expect(() => transport({ tls: { cert: fixture('client.pem') } })).toThrow(/tls.cert and tls.key/)
  })
})

describe('options', () => {
  it('bad values are a 400 MicroError naming the option', () => {
    expect(() => transport({ poolSize: 0 })).toThrow(/poolSize/)
    expect(() => transport({ connectTimeout: -1 })).toThrow(/connectTimeout/)
    expect(() => transport({ maxMessageSize: 'lots' as unknown as number })).toThrow(/maxMessageSize/)
  })

  it('numbers given as strings (from the environment or --options) are accepted', async () => {
    const { address } = await serve(echo)
    const client = transport({ poolSize: '2', maxMessageSize: '2048' } as unknown as { poolSize: number })
    expect(text((await client.request(address, message(utf8('s')))).body)).toBe('s')
    expect((await rejection(client.request(address, message(Buffer.alloc(4096))))).code).toBe(413)
  })
})

describe('deadlines', () => {
  it('a Timeout header beyond 2^31 ms (about 25 days) neither ends the call at once nor fires early', async () => {
    const warnings: string[] = []
    const onWarning = (w: Error) => void warnings.push(w.name)
    process.on('warning', onWarning)
    defer(() => process.off('warning', onWarning))
    const { address } = await serve({
      async request(m, ctx) {
        await sleep(100)
        return { headers: {}, body: utf8(ctx.signal.aborted ? 'aborted' : `ok ${text(m.body)}`) }
      },
    })
    const reply = await transport().request(address, message('x', { Timeout: '2200000000000000' }))
    expect(text(reply.body)).toBe('ok x')
    const long = await transport().request(address, message('y'), { timeout: 2 ** 31 + 1000 })
    expect(text(long.body)).toBe('ok y')
    expect(warnings).not.toContain('TimeoutOverflowWarning')
  })
})
