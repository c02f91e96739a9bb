/**
 * The gateway's lean JSON path (issue 16), on the shared etcd: a JSON body reaches the service as
 * the caller's bytes and the service's answer bytes come back as they are; a body that is not
 * JSON is the gateway's own 400 and never reaches the service; a caller going away mid-call
 * cancels the call at the service, and only that call.
 */
import { getEventListeners } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import { uniqueName } from '@micro-ts/conformance/testing'
import {
  createHttpTransport,
  createService,
  type HandlerContext,
  type Listener,
  type MicroService,
  type Transport,
  type TransportMessage,
} from '@micro-ts/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createGateway, type Gateway } from '../src/index.js'
import { etcdEnv, etcdUp } from './helpers.js'

const up = await etcdUp()

interface Deferred<T> {
  promise: Promise<T>
  resolve(value: T): void
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** One call of Waiter.Wait as the service saw it: started, then ended by its answer or an abort. */
interface WaitCall {
  id: string
  started: Deferred<void>
  /** The abort reason, or 'answered'. */
  ended: Deferred<unknown>
}

const waits = new Map<string, WaitCall>()

function waitCall(id: string): WaitCall {
  let call = waits.get(id)
  if (!call) {
    call = { id, started: deferred(), ended: deferred() }
    waits.set(id, call)
  }
  return call
}

/** A service counting its calls; Wait holds until `release` (or its abort), reporting both. */
class Waiter {
  calls = 0
  readonly releases = new Map<string, Deferred<void>>()

  async Wait(req: { id: string }, ctx: HandlerContext) {
    this.calls++
    const call = waitCall(req.id)
    call.started.resolve()
    const release = deferred<void>()
    this.releases.set(req.id, release)
    const aborted = new Promise<unknown>((resolve) => {
      if (ctx.signal.aborted) resolve(ctx.signal.reason)
      ctx.signal.addEventListener('abort', () => resolve(ctx.signal.reason), { once: true })
    })
    const outcome = await Promise.race([release.promise.then(() => 'answered' as const), aborted])
    call.ended.resolve(outcome)
    return { id: req.id, outcome: outcome === 'answered' ? 'answered' : 'aborted' }
  }

  async Echo(req: unknown) {
    this.calls++
    return req
  }
}

const waiterName = uniqueName('gw.lean')
const rawName = uniqueName('gw.raw')
const waiter = new Waiter()
let service: MicroService
let caller: MicroService
let gateway: Gateway
let base = ''
let rawTransport: Transport
let rawListener: Listener
/** What the raw node received, and the answer it gives. */
const rawSeen: TransportMessage[] = []
let rawAnswer: TransportMessage = { headers: { 'Content-Type': 'application/json' }, body: new Uint8Array(0) }

beforeAll(async () => {
  if (!up) return
  service = await createService({ name: waiterName, version: '1.0.0', env: etcdEnv() })
  service.handle(waiter)
  await service.start()
  caller = await createService({ name: uniqueName('gw'), env: etcdEnv() })
  // A node that is a bare http transport listener, so the bytes that arrive can be seen as sent.
  rawTransport = createHttpTransport()
  rawListener = await rawTransport.listen('127.0.0.1:0', {
    async request(msg) {
      rawSeen.push({ headers: msg.headers, body: Uint8Array.from(msg.body) })
      return rawAnswer
    },
  })
  const [registered] = await caller.registry.getService(waiterName)
  await caller.registry.register({
    name: rawName,
    version: '1.0.0',
    nodes: [{ id: `${rawName}-1`, address: rawListener.address, metadata: registered.nodes[0].metadata }],
  })
  gateway = createGateway({ registry: caller.registry, client: caller.client, maxBodySize: 64 * 1024 })
  base = `http://${await gateway.listen('127.0.0.1:0')}`
})

afterAll(async () => {
  await gateway?.close()
  await caller?.registry.deregister({
    name: rawName,
    version: '1.0.0',
    nodes: [{ id: `${rawName}-1`, address: '' }],
  })
  await rawListener?.close(0)
  await rawTransport?.close()
  await service?.stop()
  await caller?.stop()
})

async function postText(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
  })
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() }
}

/**
 * A POST of Waiter.Wait on a raw socket, destroyed once the service has the call, or (`atOnce`)
 * as soon as the whole request is written, before the gateway has made the call.
 */
async function abandonedWait(id: string, atOnce = false): Promise<WaitCall> {
  const call = waitCall(id)
  const body = JSON.stringify({ id })
  const socket = net.connect(Number(new URL(base).port), '127.0.0.1')
  socket.on('error', () => {})
  const request =
    `POST /${waiterName}/Waiter.Wait HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  if (atOnce) socket.end(request, () => socket.destroy())
  else socket.write(request)
  await call.started.promise
  socket.destroy()
  return call
}

/** Sends `requests` one after another on one keep-alive connection (the agent has one socket). */
async function onOneConnection(
  requests: { path: string; method?: string; body?: string; headers?: Record<string, string> }[],
): Promise<{ status: number; text: string; reused: boolean }[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const { port } = new URL(base)
  const out: { status: number; text: string; reused: boolean }[] = []
  try {
    for (const r of requests) {
      out.push(
        await new Promise((resolve, reject) => {
          const req = http.request(
            {
              agent,
              host: '127.0.0.1',
              port,
              path: r.path,
              method: r.method ?? 'POST',
              headers: { 'Content-Type': 'application/json', ...r.headers },
            },
            (res) => {
              const chunks: Buffer[] = []
              res.on('data', (c: Buffer) => chunks.push(c))
              res.on('end', () =>
                resolve({
                  status: res.statusCode ?? 0,
                  text: Buffer.concat(chunks).toString('utf8'),
                  reused: req.reusedSocket,
                }),
              )
            },
          )
          req.on('error', reject)
          req.end(r.body)
        }),
      )
    }
  } finally {
    agent.destroy()
  }
  return out
}

describe.runIf(up)('gateway: a JSON body and its answer as bytes', () => {
  it('forwards the body bytes as sent: whitespace, key order, escapes, a number past 2^53', async () => {
    rawAnswer = { headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{}') }
    const body = '{ "z": 1,\n  "a" : 12345678901234567890, "u": "Zo\\u00eb é", "n": 1.50 }  '
    const r = await postText(`/${rawName}/Raw.Take`, body)
    expect(r.status).toBe(200)
    const seen = rawSeen.at(-1)
    expect(seen?.headers['content-type']).toBe('application/json')
    expect(seen?.headers['micro-endpoint']).toBe('Raw.Take')
    expect(Buffer.from(seen?.body ?? []).toString('utf8')).toBe(body)
  })

  it("returns the service's answer bytes as they are, as application/json", async () => {
    const answer = '{ "big": 12345678901234567890,\n "b": 2, "a": "\\u00e9" }'
    rawAnswer = { headers: { 'Content-Type': 'application/json' }, body: Buffer.from(answer) }
    const r = await postText(`/${rawName}/Raw.Give`, '{}')
    expect(r.status).toBe(200)
    expect(r.type).toBe('application/json')
    expect(r.text).toBe(answer)
  })

  it("labels a service's octet-stream answer as it came, not as JSON", async () => {
    rawAnswer = {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: Buffer.from([0xff, 0x00, 0x41]),
    }
    const res = await fetch(`${base}/${rawName}/Raw.Bytes`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/octet-stream')
    expect(Buffer.from(await res.arrayBuffer()).toString('hex')).toBe('ff0041')
  })

  it('an empty body reaches the service as {} and an empty answer comes back as {}', async () => {
    rawAnswer = { headers: { 'Content-Type': 'application/json' }, body: new Uint8Array(0) }
    const r = await postText(`/${rawName}/Raw.Empty`, '')
    expect(Buffer.from(rawSeen.at(-1)?.body ?? []).toString('utf8')).toBe('{}')
    expect(r.status).toBe(200)
    expect(r.text).toBe('{}')
  })

  it('a real JSON handler gets the decoded value and its answer arrives as JSON', async () => {
    const r = await postText(`/${waiterName}/Waiter.Echo`, '{"name":"Zoë","list":[1,{"x":null}]}')
    expect(r.status).toBe(200)
    expect(JSON.parse(r.text)).toEqual({ name: 'Zoë', list: [1, { x: null }] })
  })

  it("a body that is not JSON is the gateway's 400 (go-micro error JSON); the service is never called", async () => {
    const rawBefore = rawSeen.length
    const callsBefore = waiter.calls
    for (const [service, endpoint] of [
      [rawName, 'Raw.Take'],
      [waiterName, 'Waiter.Echo'],
    ]) {
      for (const bad of ['{"name":', '{name: 1}', 'nope', '{"a":1} trailing']) {
        const r = await postText(`/${service}/${endpoint}`, bad)
        expect(r.status).toBe(400)
        expect(r.type).toMatch(/^application\/json/)
        const error = JSON.parse(r.text)
        expect(error).toMatchObject({ id: 'go.micro.gateway', code: 400, status: 'Bad Request' })
        expect(String(error.detail)).toMatch(/not JSON/)
      }
    }
    expect(rawSeen.length).toBe(rawBefore)
    expect(waiter.calls).toBe(callsBefore)
  })
})

describe.runIf(up)('gateway: the caller going away', () => {
  it('cancels the call at the service when the caller closes its connection mid-call', async () => {
    const call = await abandonedWait(uniqueName('gone'))
    const reason = await call.ended.promise
    expect(reason).not.toBe('answered')
    expect(reason).toMatchObject({ code: 499 })
  })

  it('cancels the call when the caller closes right after sending the whole request', async () => {
    const call = await abandonedWait(uniqueName('quick'), true)
    expect(await call.ended.promise).toMatchObject({ code: 499 })
  })

  it('keeps serving: a request on another connection afterwards is answered', async () => {
    await abandonedWait(uniqueName('gone')).then((c) => c.ended.promise)
    const id = uniqueName('next')
    const answered = postText(`/${waiterName}/Waiter.Wait`, JSON.stringify({ id }))
    await waitCall(id).started.promise
    waiter.releases.get(id)?.resolve()
    const r = await answered
    expect(r.status).toBe(200)
    expect(JSON.parse(r.text)).toEqual({ id, outcome: 'answered' })
  })

  it('cancels only its own call: one held on another connection meanwhile is answered', async () => {
    const held = uniqueName('held')
    const answered = postText(`/${waiterName}/Waiter.Wait`, JSON.stringify({ id: held }))
    await waitCall(held).started.promise
    const gone = await abandonedWait(uniqueName('gone'))
    expect(await gone.ended.promise).toMatchObject({ code: 499 })
    waiter.releases.get(held)?.resolve()
    const r = await answered
    expect(JSON.parse(r.text)).toEqual({ id: held, outcome: 'answered' })
  })

  it('a call ended by its deadline does not cancel the next call on the same keep-alive connection', async () => {
    const first = uniqueName('late')
    const second = uniqueName('after')
    // The second is released as soon as it starts, unless it is cancelled first.
    void waitCall(second).started.promise.then(() => waiter.releases.get(second)?.resolve())
    const [late, next] = await onOneConnection([
      {
        path: `/${waiterName}/Waiter.Wait`,
        body: JSON.stringify({ id: first }),
        headers: { Timeout: String(150 * 1e6) },
      },
      { path: `/${waiterName}/Waiter.Wait`, body: JSON.stringify({ id: second }) },
    ])
    expect(late.status).toBe(408)
    expect(await waitCall(first).ended.promise).not.toBe('answered')
    expect(next.reused).toBe(true)
    expect(next.status).toBe(200)
    expect(JSON.parse(next.text)).toEqual({ id: second, outcome: 'answered' })
    expect(await waitCall(second).ended.promise).toBe('answered')
  })

  it("calls on one keep-alive connection leave no listeners behind on its connection's signal", async () => {
    gateway.route('GET', '/lean-test/listeners', async (ctx) => {
      const signal = ctx.callOptions().signal
      return { body: { listeners: signal ? getEventListeners(signal, 'abort').length : -1 } }
    })
    const echo = { path: `/${waiterName}/Waiter.Echo`, body: '{"n":1}' }
    const count = { path: '/lean-test/listeners', method: 'GET' }
    const rsp = await onOneConnection([echo, count, ...Array.from({ length: 40 }, () => echo), count])
    expect(rsp.every((r) => r.status === 200)).toBe(true)
    expect(rsp.slice(1).every((r) => r.reused)).toBe(true)
    const after1 = JSON.parse(rsp[1].text).listeners
    const after41 = JSON.parse(rsp.at(-1)?.text ?? '{}').listeners
    expect(after1).toBeGreaterThanOrEqual(0)
    expect(after41).toBe(after1)
  })
})
