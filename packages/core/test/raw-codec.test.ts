/**
 * rawCodec and CallOptions.codec: bytes go out as given, labelled with the codec's content type,
 * and the answer comes back as its bytes, over a real http transport on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  createHttpTransport,
  createMemoryRegistry,
  type Listener,
  MicroError,
  type MicroService,
  type RpcServerStream,
  rawCodec,
  type TransportMessage,
} from '../src/index.js'
import { clientService, startService } from './helpers.js'

class Greeter {
  async Hello(req: { name: string }) {
    return { greeting: `Hello ${req.name}` }
  }

  /** Answers each message with what the handler decoded from it. */
  async Echo(stream: RpcServerStream<unknown, { got: unknown }>) {
    for await (const msg of stream) await stream.send({ got: msg })
  }
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
/** Bytes no UTF-8 decoder would give back unchanged (a lone continuation byte, an invalid lead). */
const NOT_UTF8 = new Uint8Array([0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0x7b, 0x0a])

const open: { close(): Promise<unknown> }[] = []
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close()
})

describe('rawCodec', () => {
  const codec = rawCodec('application/json')

  it('is labelled with the content type it was given', () => {
    expect(codec.contentType).toBe('application/json')
    expect(rawCodec('application/x-custom').contentType).toBe('application/x-custom')
  })

  it('encodes bytes as they are, non-UTF-8 bytes and the empty body included', () => {
    expect(Array.from(codec.encode(NOT_UTF8))).toEqual(Array.from(NOT_UTF8))
    expect(codec.encode(new Uint8Array(0)).length).toBe(0)
    expect(Buffer.from(codec.encode(Buffer.from(' { "a" : 1 } '))).toString()).toBe(' { "a" : 1 } ')
  })

  it('encodes a string as its UTF-8 bytes, never as a JSON string', () => {
    expect(Buffer.from(codec.encode('{"é":1}')).toString('hex')).toBe(Buffer.from('{"é":1}').toString('hex'))
  })

  it('decodes to the same bytes, non-UTF-8 and empty included', () => {
    const decoded = codec.decode(NOT_UTF8)
    expect(decoded).toBeInstanceOf(Uint8Array)
    expect(Array.from(decoded as Uint8Array)).toEqual(Array.from(NOT_UTF8))
    expect((codec.decode(new Uint8Array(0)) as Uint8Array).length).toBe(0)
  })

  it('refuses a value that is not bytes with a 500 go.micro.codec error', () => {
    let error: unknown
    try {
      codec.encode({ a: 1 })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(MicroError)
    expect(error).toMatchObject({ id: 'go.micro.codec', code: 500 })
    expect((error as MicroError).detail).toMatch(/Object object/)
  })
})

describe('CallOptions.codec over the http transport', () => {
  /** A bare http transport listener that records what arrives and answers `answer`. */
  async function recorder(answer: TransportMessage) {
    const seen: TransportMessage[] = []
    const transport = createHttpTransport()
    const listener: Listener = await transport.listen('127.0.0.1:0', {
      async request(msg) {
        seen.push({ headers: msg.headers, body: Uint8Array.from(msg.body) })
        return answer
      },
    })
    open.push(transport, { close: () => listener.close(0) })
    return { seen, address: listener.address }
  }

  async function client(): Promise<MicroService> {
    const c = await clientService(createMemoryRegistry())
    open.push({ close: () => c.stop() })
    return c
  }

  it("sends the call's own headers, odd names too, and no inherited ones", async () => {
    const { seen, address } = await recorder({
      headers: { 'Content-Type': 'application/json' },
      body: utf8('{}'),
    })
    const c = await client()
    const headers = Object.create({ inherited: 'no' }) as Record<string, string>
    headers['x-odd_%'] = 'v'
    headers["x-quote'"] = '"é"'
    await c.client.call('raw', 'Raw.Echo', {}, { address, headers })
    expect(seen[0].headers['x-odd_%']).toBe('v')
    expect(seen[0].headers["x-quote'"]).toBe('"é"')
    expect(seen[0].headers.inherited).toBeUndefined()
  })

  it('sends the bytes as given with the codec content type, and resolves to the answer bytes', async () => {
    const answer = utf8('{ "b" : 12345678901234567890,\n  "a": "é" }')
    const { seen, address } = await recorder({
      headers: { 'Content-Type': 'application/json' },
      body: answer,
    })
    const c = await client()
    const body = utf8('{"z":1,  "a":12345678901234567890}  ')
    const rsp = await c.client.call('raw', 'Raw.Echo', body, {
      address,
      codec: rawCodec('application/json'),
    })
    expect(seen).toHaveLength(1)
    expect(seen[0].headers['content-type']).toBe('application/json')
    expect(Buffer.from(seen[0].body).equals(Buffer.from(body))).toBe(true)
    expect(rsp).toBeInstanceOf(Uint8Array)
    expect(Buffer.from(rsp as Uint8Array).equals(Buffer.from(answer))).toBe(true)
  })

  it("sends the codec's content type over the call's contentType", async () => {
    const { seen, address } = await recorder({
      headers: { 'Content-Type': 'application/x-raw' },
      body: NOT_UTF8,
    })
    const c = await client()
    const rsp = await c.client.call('raw', 'Raw.Echo', NOT_UTF8, {
      address,
      contentType: 'application/json',
      codec: rawCodec('application/x-raw'),
    })
    expect(seen[0].headers['content-type']).toBe('application/x-raw')
    expect(Array.from(seen[0].body)).toEqual(Array.from(NOT_UTF8))
    expect(Array.from(rsp as Uint8Array)).toEqual(Array.from(NOT_UTF8))
  })

  it('an empty request goes out empty and an empty answer comes back as no bytes', async () => {
    const { seen, address } = await recorder({
      headers: { 'Content-Type': 'application/json' },
      body: new Uint8Array(0),
    })
    const c = await client()
    const rsp = await c.client.call('raw', 'Raw.Echo', new Uint8Array(0), {
      address,
      codec: rawCodec('application/json'),
    })
    expect(seen[0].body.length).toBe(0)
    expect(rsp).toBeInstanceOf(Uint8Array)
    expect((rsp as Uint8Array).length).toBe(0)
  })

  it('without the option the same call encodes and decodes JSON (the codec is per call)', async () => {
    const { seen, address } = await recorder({
      headers: { 'Content-Type': 'application/json' },
      body: utf8('{"ok":true}'),
    })
    const c = await client()
    const raw = await c.client.call('raw', 'Raw.Echo', utf8('{"n":1}'), {
      address,
      codec: rawCodec('application/json'),
    })
    expect(raw).toBeInstanceOf(Uint8Array)
    expect(await c.client.call('raw', 'Raw.Echo', { n: 2 }, { address })).toEqual({ ok: true })
    expect(Buffer.from(seen[1].body).toString()).toBe('{"n":2}')
  })

  it("reaches a real service's JSON handler and returns its answer as bytes", async () => {
    const registry = createMemoryRegistry()
    const server = await startService(registry, { name: 'greeter' })
    server.handle(new Greeter(), { endpoints: { Echo: { stream: true } } })
    const c = await clientService(registry)
    open.push({ close: () => server.stop() }, { close: () => c.stop() })
    const rsp = await c.client.call('greeter', 'Greeter.Hello', utf8('{"name":"Zoë"}'), {
      codec: rawCodec('application/json'),
    })
    expect(rsp).toBeInstanceOf(Uint8Array)
    expect(JSON.parse(Buffer.from(rsp as Uint8Array).toString('utf8'))).toEqual({ greeting: 'Hello Zoë' })
  })

  it("a stream's messages go out as the bytes given and come back as the answer's bytes", async () => {
    const registry = createMemoryRegistry()
    const server = await startService(registry, { name: 'greeter' })
    server.handle(new Greeter(), { endpoints: { Echo: { stream: true } } })
    const c = await clientService(registry)
    open.push({ close: () => server.stop() }, { close: () => c.stop() })
    const stream = await c.client.stream('greeter', 'Greeter.Echo', { codec: rawCodec('application/json') })
    await stream.send(utf8('{ "n" : 1, "s": "\\u00e9" }'))
    const first = await stream.recv()
    expect(first).toBeInstanceOf(Uint8Array)
    expect(JSON.parse(Buffer.from(first as Uint8Array).toString('utf8'))).toEqual({ got: { n: 1, s: 'é' } })
    await stream.closeSend()
    expect(await stream.recv()).toBeUndefined()
    await stream.close()
  })
})
