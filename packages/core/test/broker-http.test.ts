import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import {
  BROADCAST_VERSION,
  createHttpBroker,
  HTTP_BROKER_SERVICE,
  type HttpBroker,
  type HttpBrokerOptions,
} from '../src/broker/index.js'
import type { BrokerEvent } from '../src/broker/types.js'
import { MicroError } from '../src/errors.js'
import type { Logger } from '../src/logger.js'
import { createMemoryRegistry } from '../src/registry/memory.js'
import type { RegisterOptions, Registry, Service, Watcher, WatchOptions } from '../src/registry/types.js'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/**
 * The real memory registry, with every register/deregister recorded (so the tests can inspect
 * what the broker writes) and failures injectable.
 */
class TestRegistry implements Registry {
  readonly name = 'memory'
  readonly registrations: { service: Service; options?: RegisterOptions }[] = []
  readonly deregistrations: Service[] = []
  failGet: Error | undefined
  failRegister: Error | undefined
  private readonly inner = createMemoryRegistry()

  constructor() {
    cleanups.push(() => this.inner.close())
  }

  async register(service: Service, options?: RegisterOptions): Promise<void> {
    if (this.failRegister) throw this.failRegister
    this.registrations.push({ service: structuredClone(service), options })
    return this.inner.register(service, options)
  }

  async deregister(service: Service): Promise<void> {
    this.deregistrations.push(structuredClone(service))
    return this.inner.deregister(service)
  }

  async getService(name: string): Promise<Service[]> {
    if (this.failGet) throw this.failGet
    return this.inner.getService(name)
  }

  listServices(): Promise<Service[]> {
    return this.inner.listServices()
  }

  watch(options?: WatchOptions): Watcher {
    return this.inner.watch(options)
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}

const enc = new TextEncoder()
const dec = new TextDecoder()
const bytes = (s: string) => enc.encode(s)
const text = (b: Uint8Array) => dec.decode(b)

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function capturingLogger(): Logger & { errors: unknown[]; warns: unknown[] } {
  const errors: unknown[] = []
  const warns: unknown[] = []
  const l: Logger & { errors: unknown[]; warns: unknown[] } = {
    errors,
    warns,
    debug() {},
    info() {},
    warn(obj) {
      warns.push(obj)
    },
    error(obj) {
      errors.push(obj)
    },
    child: () => l,
  }
  return l
}

async function broker(registry: Registry, options: Partial<HttpBrokerOptions> = {}): Promise<HttpBroker> {
  const b = createHttpBroker({ registry, logger: capturingLogger(), ...options })
  await b.connect()
  cleanups.push(() => b.disconnect())
  return b
}

/** A plain node:http server standing in for a go-micro broker; records every request. */
async function fakeSubscriber(port = 0, status = 200) {
  const requests: { method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      requests.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      })
      res.statusCode = status
      res.end()
    })
  })
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
  cleanups.push(
    () =>
      new Promise((r) => {
        server.closeAllConnections()
        server.close(r)
      }),
  )
  return { requests, address: `127.0.0.1:${(server.address() as AddressInfo).port}` }
}

async function freePort(): Promise<number> {
  const s = http.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise((r) => s.close(r))
  return port
}

async function post(address: string, path: string, body: string | Buffer, method = 'POST') {
  const res = await request(`http://${address}${path}`, {
    method: method as 'POST',
    headers: { 'content-type': 'application/json' },
    body: method === 'GET' ? undefined : body,
  })
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() }
}

function goBody(topic: string, body: string, extra: Record<string, string> = {}) {
  return JSON.stringify({
    Header: { 'Micro-Topic': topic, ...extra },
    Body: Buffer.from(body).toString('base64'),
  })
}

describe('HttpBroker: registry record and wire format', () => {
  it('listens on 127.0.0.1 by default and has an address only while connected', async () => {
    const reg = new TestRegistry()
    const b = createHttpBroker({ registry: reg, logger: capturingLogger() })
    expect(b.name).toBe('http')
    expect(b.address()).toBe('')
    await b.connect()
    await b.connect() // idempotent
    expect(b.address()).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(b.address()).not.toMatch(/:0$/)
    await b.disconnect()
    expect(b.address()).toBe('')
    await b.disconnect() // idempotent
  })

  it('registers each subscription as a go-micro micro.http.broker node, with TTL 1 min', async () => {
    const reg = new TestRegistry()
    const b = await broker(reg)
    const s1 = await b.subscribe('events', () => {})
    const s2 = await b.subscribe('events', () => {}, { queue: 'workers' })
    expect(s2.queue).toBe('workers')
    const services = await reg.getService(HTTP_BROKER_SERVICE)
    const byVersion = Object.fromEntries(services.map((s) => [s.version, s]))
    expect(Object.keys(byVersion).sort()).toEqual([BROADCAST_VERSION, 'workers'].sort())
    expect(BROADCAST_VERSION).toBe('ff.http.broadcast')
    expect(byVersion[BROADCAST_VERSION].nodes).toEqual([
      {
        id: `events-${b.id}`,
        address: b.address(),
        metadata: { broker: 'http', topic: 'events', secure: 'false' },
      },
    ])
    // A second subscription to the same topic on this broker gets its own node id.
    expect(byVersion.workers.nodes).toEqual([
      {
        id: `events-${b.id}-2`,
        address: b.address(),
        metadata: { broker: 'http', topic: 'events', secure: 'false' },
      },
    ])
    expect(b.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    expect(reg.registrations.map((r) => r.options?.ttl)).toEqual([60_000, 60_000])
    expect(reg.registrations[0].service.name).toBe('micro.http.broker')

    await s1.unsubscribe()
    expect((await reg.getService(HTTP_BROKER_SERVICE)).map((s) => s.version)).toEqual(['workers'])
    await s2.unsubscribe()
    await expect(reg.getService(HTTP_BROKER_SERVICE)).rejects.toMatchObject({ code: 404 })
  })

  it('refreshes registrations on the interval and deregisters everything on disconnect', async () => {
    const reg = new TestRegistry()
    const b = await broker(reg, { registerInterval: 30, registerTtl: 500 })
    await b.subscribe('a', () => {})
    await b.subscribe('b', () => {}, { queue: 'q' })
    await until(() => reg.registrations.length >= 6)
    expect(new Set(reg.registrations.map((r) => r.service.nodes[0].id))).toEqual(
      new Set([`a-${b.id}`, `b-${b.id}`]),
    )
    expect(reg.registrations.every((r) => r.options?.ttl === 500)).toBe(true)
    await b.disconnect()
    await expect(reg.getService(HTTP_BROKER_SERVICE)).rejects.toMatchObject({ code: 404 })
    const count = reg.registrations.length
    await sleep(100)
    expect(reg.registrations.length).toBe(count)
  })

  it("accepts go-micro's JSON POSTed raw to ?id=<nodeId> and hands headers and body to the handler", async () => {
    const reg = new TestRegistry()
    const b = await broker(reg)
    const got: BrokerEvent[] = []
    await b.subscribe('events', (e) => void got.push(e))
    const body = JSON.stringify({
      Header: { 'Micro-Topic': 'events', 'Content-Type': 'application/json', 'Micro-Id': 'abc' },
      Body: 'eyJuYW1lIjoiSm9obiJ9', // {"name":"John"}
    })
    const res = await post(b.address(), `/?id=${encodeURIComponent(`events-${b.id}`)}`, body)
    expect(res.status).toBe(200)
    expect(res.text).toBe('')
    expect(got).toHaveLength(1)
    expect(got[0].topic).toBe('events')
    expect(got[0].message.headers).toEqual({
      'Micro-Topic': 'events',
      'Content-Type': 'application/json',
      'Micro-Id': 'abc',
    })
    expect(text(got[0].message.body)).toBe('{"name":"John"}')

    // Go's JSON decoder matches field names case-insensitively; so do we. A null body is empty.
    const lower = JSON.stringify({ header: { 'Micro-Topic': 'events' }, body: null })
    expect((await post(b.address(), `/?id=events-${b.id}`, lower)).status).toBe(200)
    expect(got[1].message.body).toEqual(new Uint8Array())
  })

  it('POSTs exactly the JSON a go-micro subscriber expects', async () => {
    const reg = new TestRegistry()
    const goSub = await fakeSubscriber()
    await reg.register({
      name: HTTP_BROKER_SERVICE,
      version: BROADCAST_VERSION,
      nodes: [
        {
          id: 'events-go-1',
          address: goSub.address,
          metadata: { broker: 'http', topic: 'events', secure: 'false' },
        },
        // Neither of these is for us: another topic, another broker kind.
        {
          id: 'other-go-1',
          address: goSub.address,
          metadata: { broker: 'http', topic: 'other', secure: 'false' },
        },
        { id: 'events-nats', address: goSub.address, metadata: { broker: 'nats', topic: 'events' } },
      ],
    })
    const b = await broker(reg)
    const body = new Uint8Array([0, 255, 1, 254, 10, 13])
    await b.publish('events', { headers: { 'Content-Type': 'application/octet-stream', foo: 'bar' }, body })
    await until(() => goSub.requests.length === 1)
    await sleep(50)
    expect(goSub.requests).toHaveLength(1)
    const [req] = goSub.requests
    expect(req.method).toBe('POST')
    expect(req.url).toBe('/?id=events-go-1')
    expect(req.headers['content-type']).toBe('application/json')
    const json = JSON.parse(req.body)
    expect(Object.keys(json)).toEqual(['Header', 'Body'])
    expect(json).toEqual({
      Header: { 'Content-Type': 'application/octet-stream', foo: 'bar', 'Micro-Topic': 'events' },
      Body: Buffer.from(body).toString('base64'),
    })
  })

  it('escapes node ids in the query like Go (topic with spaces, slashes, & and unicode)', async () => {
    const reg = new TestRegistry()
    const sub = await broker(reg)
    const pub = await broker(reg)
    const topic = 'a b/c?d&e=f+g ключ'
    const got: string[] = []
    await sub.subscribe(topic, (e) => void got.push(e.topic))
    await pub.publish(topic, { headers: {}, body: bytes('x') })
    await until(() => got.length === 1)
    expect(got).toEqual([topic])
    // And as a Go client writes it (url.Values: spaces as '+').
    const goQuery = `/?id=${new URLSearchParams({ id: `${topic}-${sub.id}` }).toString().slice(3)}`
    expect((await post(sub.address(), goQuery, goBody(topic, 'y'))).status).toBe(200)
    expect(got).toHaveLength(2)
  })
})

describe('HttpBroker: bad input to its server', () => {
  it('answers 405/400/404/413/500 with go-micro error JSON and keeps serving', async () => {
    const reg = new TestRegistry()
    const b = await broker(reg, { maxBodySize: 64 * 1024 })
    const got: string[] = []
    await b.subscribe('t', (e) => {
      if (text(e.message.body) === 'boom') throw new Error('handler exploded')
      got.push(text(e.message.body))
    })
    const id = `/?id=t-${b.id}`
    const addr = b.address()

    const get = await post(addr, id, '', 'GET')
    expect(get.status).toBe(405)
    expect(get.headers.allow).toBe('POST')
    expect(JSON.parse(get.text)).toMatchObject({
      id: 'go.micro.broker',
      code: 405,
      status: 'Method Not Allowed',
    })
    expect((await post(addr, id, goBody('t', 'x'), 'PUT')).status).toBe(405)

    const cases: [string, RegExp][] = [
      ['{not json', /not JSON/],
      ['', /not JSON/],
      ['[1,2]', /JSON object/],
      ['"str"', /JSON object/],
      ['null', /JSON object/],
      [JSON.stringify({ Header: { 'Micro-Topic': 't' }, Body: 'not base64!!' }), /base64/],
      [JSON.stringify({ Header: { 'Micro-Topic': 't' }, Body: 12 }), /base64/],
      [JSON.stringify({ Header: ['Micro-Topic'], Body: '' }), /Header/],
      [JSON.stringify({ Header: { 'Micro-Topic': 't', n: 5 }, Body: '' }), /must be a string/],
      [JSON.stringify({ Header: {}, Body: '' }), /Micro-Topic header is missing/],
      [JSON.stringify({ Body: 'eA==' }), /Micro-Topic header is missing/],
    ]
    for (const [body, detail] of cases) {
      const res = await post(addr, id, body)
      expect(res.status, body).toBe(400)
      const err = JSON.parse(res.text)
      expect(err).toMatchObject({ id: 'go.micro.broker', code: 400, status: 'Bad Request' })
      expect(err.detail).toMatch(detail)
    }

    // Unknown id, missing id, or an id whose topic differs from Micro-Topic: 404.
    for (const path of ['/?id=nope', '/', `/?id=t-${b.id}x`]) {
      const res = await post(addr, path, goBody('t', 'x'))
      expect(res.status).toBe(404)
      expect(JSON.parse(res.text)).toMatchObject({ id: 'go.micro.broker', code: 404 })
    }
    expect((await post(addr, id, goBody('other', 'x'))).status).toBe(404)

    // Oversized, with Content-Length and streamed without it.
    const big = goBody('t', 'x'.repeat(100 * 1024))
    const tooBig = await post(addr, id, big)
    expect(tooBig.status).toBe(413)
    expect(JSON.parse(tooBig.text)).toMatchObject({ id: 'go.micro.broker', code: 413 })
    const streamed = await request(`http://${addr}${id}`, {
      method: 'POST',
      // No Content-Length: the limit must hold while streaming.
      body: Readable.from(
        (async function* () {
          for (let i = 0; i < 20; i++) yield Buffer.alloc(8 * 1024, 0x61)
        })(),
      ),
    })
    expect(streamed.statusCode).toBe(413)
    await streamed.body.text()

    // A failing handler: the message was accepted (200, before the handler ran); the failure is logged.
    expect((await post(addr, id, goBody('t', 'boom'))).status).toBe(200)

    // Still alive and delivering.
    expect(got).toEqual([])
    expect((await post(addr, id, goBody('t', 'fine'))).status).toBe(200)
    await until(() => got.length === 1)
    expect(got).toEqual(['fine'])
  })

  it('refuses more than 10 MiB by default', async () => {
    const reg = new TestRegistry()
    const b = await broker(reg)
    await b.subscribe('t', () => {})
    const res = await post(b.address(), `/?id=t-${b.id}`, Buffer.alloc(11 * 1024 * 1024, 0x20))
    expect(res.status).toBe(413)
    expect((await post(b.address(), `/?id=t-${b.id}`, goBody('t', 'ok'))).status).toBe(200)
  })
})

describe('HttpBroker: a publish resolves only when the subscribers accepted the message', () => {
  it('carries 3.5, 4 and 6 MiB bodies (no regular expression over the base64)', async () => {
    const reg = new TestRegistry()
    const sub = await broker(reg)
    const pub = await broker(reg)
    const sizes: number[] = []
    await sub.subscribe('big', (e) => void sizes.push(e.message.body.length))
    for (const mib of [3.5, 4, 6]) {
      await pub.publish('big', { headers: {}, body: new Uint8Array(mib * 1024 * 1024).fill(7) })
    }
    await until(() => sizes.length === 3)
    expect(sizes).toEqual([3.5, 4, 6].map((m) => m * 1024 * 1024))
  })

  it('a message over maxBodySize fails with 413 before anything is sent (8 MB against 10 MiB: its base64 is bigger)', async () => {
    const reg = new TestRegistry()
    const sub = await broker(reg)
    const pub = await broker(reg)
    let got = 0
    await sub.subscribe('big', () => void got++)
    const err = await pub
      .publish('big', { headers: {}, body: new Uint8Array(8_000_000) })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MicroError)
    expect(err).toMatchObject({ id: 'go.micro.broker', code: 413 })
    expect((err as MicroError).detail).toMatch(/maxBodySize/)
    await sleep(200)
    expect(got).toBe(0)
  })

  it("a subscriber's refusal rejects the publish with the subscriber's error", async () => {
    const reg = new TestRegistry()
    const sub = await broker(reg, { maxBodySize: 1024 })
    const pub = await broker(reg)
    let got = 0
    await sub.subscribe('t', () => void got++)
    const err = await pub.publish('t', { headers: {}, body: new Uint8Array(4096) }).catch((e: unknown) => e)
    expect(err).toMatchObject({ id: 'go.micro.broker', code: 413 })
    expect((err as MicroError).detail).toMatch(/refused the message \(413\)/)
    await pub.publish('t', { headers: {}, body: new Uint8Array(10) })
    await until(() => got === 1)
  })

  it('a go-micro subscriber that answers 500 (it could not parse the message) rejects the publish', async () => {
    const reg = new TestRegistry()
    const goSubscriber = http.createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        res.statusCode = 500
        res.end(
          '{"id":"go.micro.broker","code":500,"detail":"Error parsing request body: bad","status":"Internal Server Error"}',
        )
      })
    })
    await new Promise<void>((r) => goSubscriber.listen(0, '127.0.0.1', r))
    cleanups.push(() => new Promise((r) => goSubscriber.close(r)))
    const port = (goSubscriber.address() as AddressInfo).port
    await reg.register({
      name: HTTP_BROKER_SERVICE,
      version: BROADCAST_VERSION,
      nodes: [
        {
          id: 'go-sub',
          address: `127.0.0.1:${port}`,
          metadata: { broker: 'http', topic: 't', secure: 'false' },
        },
      ],
    })
    const pub = await broker(reg)
    const err = await pub.publish('t', { headers: {}, body: bytes('x') }).catch((e: unknown) => e)
    expect(err).toMatchObject({ id: 'go.micro.broker', code: 500 })
    expect((err as MicroError).detail).toMatch(/Error parsing request body/)
  })
})

describe('HttpBroker: pub/sub between brokers', () => {
  it('round-trips headers and a binary body', async () => {
    const reg = new TestRegistry()
    const a = await broker(reg)
    const b = await broker(reg)
    const got: BrokerEvent[] = []
    await a.subscribe('t', (e) => void got.push(e))
    const body = new Uint8Array(256)
    for (let i = 0; i < 256; i++) body[i] = i
    await b.publish('t', {
      headers: { 'Content-Type': 'application/octet-stream', 'X-Quote': `"it's" 100%` },
      body,
    })
    await until(() => got.length === 1)
    expect(got[0].topic).toBe('t')
    expect(got[0].message.headers).toEqual({
      'Content-Type': 'application/octet-stream',
      'X-Quote': `"it's" 100%`,
      'Micro-Topic': 't',
    })
    expect([...got[0].message.body]).toEqual([...body])
  })

  it('broadcasts to every subscriber on every broker', async () => {
    const reg = new TestRegistry()
    const a = await broker(reg)
    const b = await broker(reg)
    const pub = await broker(reg)
    const counts = [0, 0, 0]
    await a.subscribe('t', () => void counts[0]++)
    await a.subscribe('t', () => void counts[1]++)
    await b.subscribe('t', () => void counts[2]++)
    for (let i = 0; i < 10; i++) await pub.publish('t', { headers: {}, body: bytes(`${i}`) })
    await until(() => counts.every((c) => c === 10))
    await sleep(100)
    expect(counts).toEqual([10, 10, 10])
  })

  it('queue groups: each message to exactly one member; two groups each get a copy', async () => {
    const reg = new TestRegistry()
    const a = await broker(reg)
    const b = await broker(reg)
    const pub = await broker(reg)
    const groupA: string[][] = [[], [], []]
    const groupB: string[][] = [[], []]
    const all: string[] = []
    const t = (e: BrokerEvent) => text(e.message.body)
    await a.subscribe('t', (e) => void groupA[0].push(t(e)), { queue: 'A' })
    await a.subscribe('t', (e) => void groupA[1].push(t(e)), { queue: 'A' })
    await b.subscribe('t', (e) => void groupA[2].push(t(e)), { queue: 'A' })
    await a.subscribe('t', (e) => void groupB[0].push(t(e)), { queue: 'B' })
    await b.subscribe('t', (e) => void groupB[1].push(t(e)), { queue: 'B' })
    await b.subscribe('t', (e) => void all.push(t(e)))
    const n = 60
    for (let i = 0; i < n; i++) await pub.publish('t', { headers: {}, body: bytes(`m${i}`) })
    await until(() => all.length === n && groupA.flat().length === n && groupB.flat().length === n)
    await sleep(200)
    const want = Array.from({ length: n }, (_, i) => `m${i}`).sort()
    expect(groupA.flat().sort()).toEqual(want)
    expect(groupB.flat().sort()).toEqual(want)
    expect([...all].sort()).toEqual(want)
    // random choice spreads the load: with 60 messages every member of A gets some
    for (const list of groupA) expect(list.length).toBeGreaterThan(0)
  })

  it('two subscriptions to one topic on one broker each get one copy (go-micro #2654 not copied)', async () => {
    const reg = new TestRegistry()
    const a = await broker(reg)
    const q1: string[] = []
    const q2: string[] = []
    const bc: string[] = []
    await a.subscribe('t', (e) => void q1.push(text(e.message.body)), { queue: 'one' })
    await a.subscribe('t', (e) => void q2.push(text(e.message.body)), { queue: 'two' })
    await a.subscribe('t', (e) => void bc.push(text(e.message.body)))
    for (let i = 0; i < 5; i++) await a.publish('t', { headers: {}, body: bytes(`${i}`) })
    await until(() => q1.length === 5 && q2.length === 5 && bc.length === 5)
    await sleep(100)
    expect([q1.length, q2.length, bc.length]).toEqual([5, 5, 5])
  })

  it('unsubscribe stops delivery', async () => {
    const reg = new TestRegistry()
    const a = await broker(reg)
    const pub = await broker(reg)
    let count = 0
    const sub = await a.subscribe('t', () => void count++)
    await pub.publish('t', { headers: {}, body: bytes('1') })
    await until(() => count === 1)
    await sub.unsubscribe()
    await sub.unsubscribe()
    await pub.publish('t', { headers: {}, body: bytes('2') })
    await sleep(300)
    expect(count).toBe(1)
  })

  it('isolates topics', async () => {
    const reg = new TestRegistry()
    const a = await broker(reg)
    const pub = await broker(reg)
    const got: string[] = []
    await a.subscribe('a', (e) => void got.push(`a:${e.topic}`))
    await a.subscribe('b', (e) => void got.push(`b:${e.topic}`))
    await pub.publish('a', { headers: {}, body: bytes('x') })
    await pub.publish('c', { headers: {}, body: bytes('x') })
    await until(() => got.length >= 1)
    await sleep(100)
    expect(got).toEqual(['a:a'])
  })

  it('delivers 1,000 messages, none lost or duplicated', async () => {
    const reg = new TestRegistry()
    const a = await broker(reg)
    const pub = await broker(reg)
    const seen = new Map<string, number>()
    const queued = new Map<string, number>()
    await a.subscribe(
      't',
      (e) => void seen.set(e.message.headers.n, (seen.get(e.message.headers.n) ?? 0) + 1),
    )
    await a.subscribe(
      't',
      (e) => void queued.set(e.message.headers.n, (queued.get(e.message.headers.n) ?? 0) + 1),
      { queue: 'q' },
    )
    await pub.subscribe(
      't',
      (e) => void queued.set(e.message.headers.n, (queued.get(e.message.headers.n) ?? 0) + 1),
      {
        queue: 'q',
      },
    )
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        pub.publish('t', { headers: { n: `${i}` }, body: bytes(`${i}`) }),
      ),
    )
    await until(() => seen.size === 1000 && queued.size === 1000, 30_000)
    await sleep(200)
    expect([...seen.values()].every((n) => n === 1)).toBe(true)
    expect([...queued.values()].every((n) => n === 1)).toBe(true)
  })

  it('carries a 1 MiB message intact', async () => {
    const reg = new TestRegistry()
    const a = await broker(reg)
    const pub = await broker(reg)
    const body = new Uint8Array(1024 * 1024)
    for (let i = 0; i < body.length; i++) body[i] = (i * 131) & 0xff
    let got: Uint8Array | undefined
    await a.subscribe('big', (e) => {
      got = e.message.body
    })
    await pub.publish('big', { headers: {}, body })
    await until(() => got !== undefined)
    expect(got!.length).toBe(body.length)
    expect(Buffer.compare(Buffer.from(got!), Buffer.from(body))).toBe(0)
  })

  it('a throwing handler is logged, never crashes, and the next message still arrives', async () => {
    const reg = new TestRegistry()
    const logger = capturingLogger()
    const a = await broker(reg, { logger })
    const pub = await broker(reg)
    const got: string[] = []
    await a.subscribe('t', async (e) => {
      if (text(e.message.body) === 'bad') throw new Error('nope')
      got.push(text(e.message.body))
    })
    await pub.publish('t', { headers: {}, body: bytes('bad') })
    await pub.publish('t', { headers: {}, body: bytes('good') })
    await until(() => got.length === 1 && logger.errors.length === 1)
    expect(JSON.stringify(logger.errors)).toContain('nope')
    // A handler failure is a delivery: it is not retried.
    await sleep(300)
    expect(got).toEqual(['good'])
    expect(logger.errors).toHaveLength(1)
  })

  it('publish and subscribe before connect (or after disconnect) fail with a 503 MicroError', async () => {
    const reg = new TestRegistry()
    const b = createHttpBroker({ registry: reg, logger: capturingLogger() })
    const err = await b.publish('t', { headers: {}, body: bytes('x') }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MicroError)
    expect((err as MicroError).toJSON()).toMatchObject({ id: 'go.micro.broker', code: 503 })
    expect((err as MicroError).detail).toContain('not connected; call connect() first')
    await expect(b.subscribe('t', () => {})).rejects.toMatchObject({ code: 503 })
    await b.connect()
    await b.publish('t', { headers: {}, body: bytes('x') })
    await b.disconnect()
    await expect(b.publish('t', { headers: {}, body: bytes('x') })).rejects.toMatchObject({ code: 503 })
  })

  it('rejects bad input with a 400 MicroError', async () => {
    const reg = new TestRegistry()
    const b = await broker(reg)
    await expect(b.publish('', { headers: {}, body: bytes('x') })).rejects.toMatchObject({ code: 400 })
    await expect(
      b.publish('t', { headers: { n: 1 as unknown as string }, body: bytes('x') }),
    ).rejects.toMatchObject({
      code: 400,
    })
    await expect(b.publish('t', { headers: {}, body: [1] as unknown as Uint8Array })).rejects.toMatchObject({
      code: 400,
    })
    await expect(b.subscribe('t', null as unknown as () => void)).rejects.toMatchObject({ code: 400 })
    expect(() => createHttpBroker({ registry: reg, address: 'nonsense' })).not.toThrow()
    const bad = createHttpBroker({ registry: reg, address: 'nonsense', logger: capturingLogger() })
    await expect(bad.connect()).rejects.toMatchObject({ code: 400 })
  })
})

describe('HttpBroker: failures', () => {
  it('retries a queue message from the backlog until the subscriber comes up', async () => {
    const reg = new TestRegistry()
    const port = await freePort()
    await reg.register({
      name: HTTP_BROKER_SERVICE,
      version: 'late',
      nodes: [
        {
          id: 't-late',
          address: `127.0.0.1:${port}`,
          metadata: { broker: 'http', topic: 't', secure: 'false' },
        },
      ],
    })
    const b = await broker(reg)
    await b.publish('t', { headers: { n: '1' }, body: bytes('hello') })
    await sleep(250)
    const late = await fakeSubscriber(port)
    await until(() => late.requests.length === 1)
    expect(JSON.parse(late.requests[0].body).Header).toEqual({ n: '1', 'Micro-Topic': 't' })
    await sleep(300)
    expect(late.requests).toHaveLength(1)
  })

  it('moves on to another member of the queue group when a node is dead or stale', async () => {
    const reg = new TestRegistry()
    const dead = await freePort()
    const a = await broker(reg)
    const got: string[] = []
    await a.subscribe('t', (e) => void got.push(text(e.message.body)), { queue: 'q' })
    await reg.register({
      name: HTTP_BROKER_SERVICE,
      version: 'q',
      nodes: [
        {
          id: 't-dead',
          address: `127.0.0.1:${dead}`,
          metadata: { broker: 'http', topic: 't', secure: 'false' },
        },
        // A live broker that no longer has this subscriber answers 404.
        { id: 't-stale', address: a.address(), metadata: { broker: 'http', topic: 't', secure: 'false' } },
      ],
    })
    const pub = await broker(reg)
    for (let i = 0; i < 20; i++) await pub.publish('t', { headers: {}, body: bytes(`${i}`) })
    await until(() => got.length === 20)
    await sleep(200)
    expect(got.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `${i}`).sort())
  })

  it('drops a broadcast copy once its subscriber has left the registry', async () => {
    const reg = new TestRegistry()
    const port = await freePort()
    const node = {
      id: 't-gone',
      address: `127.0.0.1:${port}`,
      metadata: { broker: 'http', topic: 't', secure: 'false' },
    }
    await reg.register({ name: HTTP_BROKER_SERVICE, version: BROADCAST_VERSION, nodes: [node] })
    const b = await broker(reg)
    await b.publish('t', { headers: {}, body: bytes('x') })
    await reg.deregister({ name: HTTP_BROKER_SERVICE, version: BROADCAST_VERSION, nodes: [node] })
    await sleep(200)
    const late = await fakeSubscriber(port)
    await sleep(500)
    expect(late.requests).toHaveLength(0)
  })

  it('a failing registry lookup rejects publish with a 503; a failing register rejects subscribe', async () => {
    const reg = new TestRegistry()
    const b = await broker(reg, { cacheTtl: 0 })
    reg.failGet = new Error('registry down')
    const err = await b.publish('t', { headers: {}, body: bytes('x') }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MicroError)
    expect((err as MicroError).code).toBe(503)
    expect((err as MicroError).detail).toContain('registry down')
    reg.failGet = undefined

    reg.failRegister = new Error('cannot write')
    await expect(b.subscribe('t', () => {})).rejects.toMatchObject({ id: 'go.micro.broker', code: 500 })
    reg.failRegister = undefined
    // Nothing was left behind: the node id is free and the server does not know it.
    expect((await post(b.address(), `/?id=t-${b.id}`, goBody('t', 'x'))).status).toBe(404)
    await b.subscribe('t', () => {})
    expect((await post(b.address(), `/?id=t-${b.id}`, goBody('t', 'x'))).status).toBe(200)
  })

  it('works again after disconnect and connect', async () => {
    const reg = new TestRegistry()
    const b = await broker(reg)
    await b.subscribe('t', () => {})
    await b.disconnect()
    await b.connect()
    const got: string[] = []
    await b.subscribe('t', (e) => void got.push(text(e.message.body)))
    await b.publish('t', { headers: {}, body: bytes('again') })
    await until(() => got.length === 1)
    // Only the new subscription is registered, at the new address.
    const [svc] = await reg.getService(HTTP_BROKER_SERVICE)
    expect(svc.nodes.map((n) => [n.id, n.address])).toEqual([[`t-${b.id}`, b.address()]])
  })

  it('an aborted publish fails with a MicroError and sends nothing', async () => {
    const reg = new TestRegistry()
    const a = await broker(reg)
    let count = 0
    await a.subscribe('t', () => void count++)
    const controller = new AbortController()
    controller.abort()
    await expect(
      a.publish('t', { headers: {}, body: bytes('x') }, { signal: controller.signal }),
    ).rejects.toMatchObject({ id: 'go.micro.broker', code: 499 })
    await expect(
      a.publish(
        't',
        { headers: {}, body: bytes('x') },
        { signal: AbortSignal.abort(new DOMException('deadline', 'TimeoutError')) },
      ),
    ).rejects.toMatchObject({ id: 'go.micro.broker', code: 408 })
    await sleep(200)
    expect(count).toBe(0)
  })

  it('publishing with no subscribers anywhere is fine', async () => {
    const reg = new TestRegistry()
    const b = await broker(reg)
    await expect(b.publish('nobody', { headers: {}, body: bytes('x') })).resolves.toBeUndefined()
  })
})
