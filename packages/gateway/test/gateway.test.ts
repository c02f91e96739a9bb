/**
 * The gateway in front of a real service, both on the shared etcd: go-micro's routes, schema
 * 400s, deadlines and headers carried through, errors as HTTP statuses, the size limit, CORS,
 * streams over SSE and WebSocket, health, and routes added by others.
 */
import { uniqueName } from '@micro-ts/conformance/testing'
import { createService, type MicroService } from '@micro-ts/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { createGateway, type Gateway, valueToJsonSchema } from '../src/index.js'
import { etcdEnv, etcdUp, startGreeter } from './helpers.js'

const up = await etcdUp()
const name = uniqueName('gw.greeter')
let greeter: MicroService
let caller: MicroService
let gateway: Gateway
let base = ''

beforeAll(async () => {
  if (!up) return
  greeter = await startGreeter(name)
  caller = await createService({ name: uniqueName('gw'), env: etcdEnv() })
  gateway = createGateway({
    registry: caller.registry,
    client: caller.client,
    store: caller.store,
    broker: caller.broker,
    maxBodySize: 64 * 1024,
  })
  base = `http://${await gateway.listen('127.0.0.1:0')}`
})

afterAll(async () => {
  await gateway?.close()
  await greeter?.stop()
  await caller?.stop()
})

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> }
}

describe.runIf(up)('gateway routes (go-micro v5.30)', () => {
  it("micro api's POST /{service}/{endpoint}", async () => {
    const r = await post(`/${name}/Greeter.Hello`, { name: 'John' })
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toBe('application/json')
    expect(r.body).toMatchObject({ greeting: 'Hello John' })
  })

  it("micro run's /api/{service}/{endpoint} and /api/{service}/{Handler}/{Method}", async () => {
    expect((await post(`/api/${name}/Greeter.Hello`, { name: 'A' })).body.greeting).toBe('Hello A')
    expect((await post(`/api/${name}/Greeter/Hello`, { name: 'B' })).body.greeting).toBe('Hello B')
  })

  it('the Micro-Endpoint header names the endpoint', async () => {
    const r = await post(`/${name}/anything`, { name: 'H' }, { 'Micro-Endpoint': 'Greeter.Hello' })
    expect(r.body.greeting).toBe('Hello H')
  })

  it('a request its schema refuses is a 400 naming the field, before the handler runs', async () => {
    const r = await post(`/${name}/Greeter.Hello`, { name: 42 })
    expect(r.status).toBe(400)
    expect(r.body).toMatchObject({ id: 'go.micro.server', code: 400, status: 'Bad Request' })
    expect(String(r.body.detail)).toMatch(/^Greeter\.Hello: invalid request: name: /)
    const nested = await post(`/${name}/Greeter.Hello`, { name: 'x', times: 1.5 })
    expect(String(nested.body.detail)).toMatch(/times: /)
  })

  it('errors become HTTP statuses with go-micro error JSON', async () => {
    const unknown = await post(`/${name}/Greeter.Nope`, {})
    expect(unknown.status).toBe(404)
    expect(unknown.body).toMatchObject({ code: 404, status: 'Not Found' })
    const noService = await post(`/${uniqueName('missing')}/Greeter.Hello`, {})
    expect(noService.status).toBe(404)
    const notJson = await post(`/${name}/Greeter.Hello`, '{"name":')
    expect(notJson.status).toBe(400)
    expect(notJson.body).toMatchObject({ id: 'go.micro.gateway', code: 400 })
  })

  it("carries the caller's deadline through (Timeout in ns, or ?timeout=) and answers 408 at it", async () => {
    const r = await post(`/${name}/Greeter.Slow`, { ms: 1 }, { Timeout: String(2_000 * 1e6) })
    expect(r.status).toBe(200)
    expect(r.body.deadline_ms).toBeGreaterThan(1000)
    expect(r.body.deadline_ms).toBeLessThanOrEqual(2000)
    const q = await post(`/${name}/Greeter.Slow?timeout=3s`, { ms: 1 })
    expect(q.body.deadline_ms).toBeGreaterThan(2000)
    const late = await post(`/${name}/Greeter.Slow`, { ms: 5_000 }, { Timeout: String(200 * 1e6) })
    expect(late.status).toBe(408)
    expect(late.body).toMatchObject({ code: 408 })
  })

  it('carries request headers through as metadata, but not cookies', async () => {
    const r = await post(
      `/${name}/Greeter.Hello`,
      { name: 'T' },
      { 'X-Trace': 'abc', Cookie: 'session=secret' },
    )
    expect(r.body).toMatchObject({ trace: 'abc', cookie: null })
  })

  it('refuses a body over the size limit with a 413', async () => {
    const r = await post(`/${name}/Greeter.Hello`, { name: 'x'.repeat(70 * 1024) })
    expect(r.status).toBe(413)
    expect(r.body).toMatchObject({ code: 413, status: 'Request Entity Too Large' })
  })

  it('CORS is off by default', async () => {
    const res = await fetch(`${base}/${name}/Greeter.Hello`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
    })
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
    expect(res.status).toBe(405)
  })

  it('GET / lists services, GET /{service} describes one with its published schema', async () => {
    const list = (await (await fetch(`${base}/`)).json()) as { name: string; endpoints?: string[] }[]
    expect(list.find((s) => s.name === name)?.endpoints).toEqual(
      expect.arrayContaining(['Greeter.Hello', 'Greeter.Stream']),
    )
    const d = (await (await fetch(`${base}/${name}`)).json()) as {
      endpoints: { name: string; request: unknown }[]
      nodes: number
    }
    expect(d.nodes).toBe(1)
    const hello = d.endpoints.find((e) => e.name === 'Greeter.Hello')
    expect(hello?.request).toEqual({
      name: 'HelloRequest',
      type: 'HelloRequest',
      values: [
        { name: 'name', type: 'string' },
        { name: 'times', type: 'int64' },
      ],
    })
    expect(valueToJsonSchema(hello?.request as never)).toMatchObject({
      type: 'object',
      properties: { name: { type: 'string' }, times: { type: 'integer' } },
    })
    expect((await fetch(`${base}/${uniqueName('missing')}`)).status).toBe(404)
  })

  it('/health answers with the registry check', async () => {
    const res = await fetch(`${base}/health`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ status: 'up', checks: [{ name: 'registry', status: 'up' }] })
  })

  it('/micro/store and /micro/broker', async () => {
    const key = uniqueName('k')
    expect((await post(`/micro/store/${key}`, { v: 1 })).body).toEqual({ status: 'ok', key })
    expect(await (await fetch(`${base}/micro/store/${key}`)).json()).toEqual({ v: 1 })
    expect(await (await fetch(`${base}/micro/store?prefix=${key}`)).json()).toEqual([key])
    const got: unknown[] = []
    await caller.broker.connect()
    const sub = await caller.broker.subscribe('gw.events', (e) => {
      got.push(JSON.parse(Buffer.from(e.message.body).toString()))
    })
    expect((await post('/micro/broker/gw.events', { n: 1 })).body).toEqual({
      status: 'ok',
      topic: 'gw.events',
    })
    await sub.unsubscribe()
    expect(got).toEqual([{ n: 1 }])
  })

  it('a streaming endpoint over server-sent events', async () => {
    const res = await fetch(`${base}/api/${name}/Greeter/Stream`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify([{ name: 'a' }, { name: 'b', count: 2 }]),
    })
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const text = await res.text()
    expect(text).toBe(
      'data: {"greeting":"Hello a"}\n\ndata: {"greeting":"Hello b"}\n\ndata: {"greeting":"Hello b"}\n\nevent: end\ndata: {}\n\n',
    )
    const failed = await fetch(`${base}/api/${name}/Greeter/Stream`, {
      method: 'POST',
      headers: { Accept: 'text/event-stream' },
      body: JSON.stringify({ name: 'fail' }),
    })
    expect(await failed.text()).toMatch(
      /^event: error\ndata: \{"id":"greeter","code":400,"detail":"bad name fail"/,
    )
  })

  it('a streaming endpoint over a WebSocket, both ways', async () => {
    const ws = new WebSocket(`ws://${gateway.address}/api/${name}/Greeter/Stream`)
    const got: unknown[] = []
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
    ws.on('message', (d) => {
      got.push(JSON.parse(d.toString()))
      if (got.length === 1) ws.send(JSON.stringify({ name: 'again' }))
      if (got.length === 2) ws.send('')
    })
    await new Promise((resolve) => ws.on('open', resolve))
    ws.send(JSON.stringify({ name: 'ws' }))
    expect(await closed).toBe(1000)
    expect(got).toEqual([{ greeting: 'Hello ws' }, { greeting: 'Hello again' }])

    const bad = new WebSocket(`ws://${gateway.address}/api/${name}/Greeter/Stream`)
    const msgs: unknown[] = []
    bad.on('message', (d) => msgs.push(JSON.parse(d.toString())))
    const code = new Promise<number>((resolve) => bad.on('close', (c) => resolve(c)))
    await new Promise((resolve) => bad.on('open', resolve))
    bad.send(JSON.stringify({ name: 'fail' }))
    expect(await code).toBe(4400)
    expect(msgs).toEqual([
      { error: { id: 'greeter', code: 400, detail: 'bad name fail', status: 'Bad Request' } },
    ])
  })

  it('refuses a WebSocket from a page on another origin', async () => {
    const ws = new WebSocket(`ws://${gateway.address}/api/${name}/Greeter/Stream`, {
      origin: 'https://evil.example',
    })
    const status = await new Promise<number | undefined>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode))
      ws.on('error', () => resolve(undefined))
    })
    expect(status).toBe(403)
  })

  it('routes added by others win over the built-in catch-alls, and see the registry cache and client', async () => {
    gateway.route('GET', '/dashboard/:service', async (ctx) => {
      const [svc] = await ctx.gateway.cache.getService(ctx.params.service)
      const answer = await ctx.gateway.call(
        ctx.params.service,
        'Greeter.Hello',
        { name: 'dash' },
        ctx.callOptions(),
      )
      return { body: { endpoints: svc.endpoints?.length, answer } }
    })
    const res = await fetch(`${base}/dashboard/${name}`)
    expect(await res.json()).toMatchObject({ endpoints: 3, answer: { greeting: 'Hello dash' } })
    expect(gateway.listRoutes().map((r) => `${r.method} ${r.path}`)).toContain('GET /dashboard/:service')
  })
})

describe.runIf(up)('gateway options', () => {
  it('CORS when configured: preflight and simple requests for allowed origins only', async () => {
    const gw = createGateway({
      registry: caller.registry,
      client: caller.client,
      cors: { origins: ['https://app.example'] },
    })
    const url = `http://${await gw.listen('127.0.0.1:0')}`
    try {
      const pre = await fetch(`${url}/${name}/Greeter.Hello`, {
        method: 'OPTIONS',
        headers: {
          Origin: 'https://app.example',
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'content-type',
        },
      })
      expect(pre.status).toBe(204)
      expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example')
      expect(pre.headers.get('access-control-allow-headers')).toBe('content-type')
      const ok = await fetch(`${url}/${name}/Greeter.Hello`, {
        method: 'POST',
        headers: { Origin: 'https://app.example' },
        body: '{"name":"C"}',
      })
      expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example')
      const other = await fetch(`${url}/${name}/Greeter.Hello`, {
        method: 'POST',
        headers: { Origin: 'https://other.example' },
        body: '{"name":"C"}',
      })
      expect(other.headers.get('access-control-allow-origin')).toBeNull()
    } finally {
      await gw.close()
    }
  })

  it('a prefix mounts it under a path; close() refuses new requests and waits for those in flight', async () => {
    const gw = createGateway({ registry: caller.registry, client: caller.client, prefix: '/gw' })
    const url = `http://${await gw.listen('127.0.0.1:0')}`
    expect(
      (
        (await (
          await fetch(`${url}/gw/${name}/Greeter.Hello`, { method: 'POST', body: '{"name":"P"}' })
        ).json()) as { greeting: string }
      ).greeting,
    ).toBe('Hello P')
    expect((await fetch(`${url}/${name}/Greeter.Hello`, { method: 'POST', body: '{}' })).status).toBe(404)
    const slow = fetch(`${url}/gw/${name}/Greeter.Slow`, { method: 'POST', body: '{"ms":300}' })
    await new Promise((r) => setTimeout(r, 100))
    await gw.close()
    const res = await slow
    expect(res.status).toBe(200)
  })
})
