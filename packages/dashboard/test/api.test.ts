/**
 * The dashboard's routes without a browser: the page and its files (redirect, ETag, the
 * same-origin policy), the services JSON, the event stream, node health (http and tcp nodes),
 * and the call route's checks — each bad request a clear error, never a crash.
 */

import { EtcdServer } from '@micro-ts/conformance/testing/etcd'
import { createService, type MicroService } from '@micro-ts/core'
import { createGateway, type Gateway } from '@micro-ts/gateway'
import etcd from '@micro-ts/registry-etcd'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CONTENT_SECURITY_POLICY, type Dashboard, mountDashboard, type ServiceView } from '../src/index.js'
import { etcdAvailable, serviceEnv, startCaller, startGreeter } from './helpers.js'

let registry: EtcdServer
const services: MicroService[] = []
let caller: MicroService
let gateway: Gateway
let dashboard: Dashboard
let few: Dashboard
let base = ''

beforeAll(async () => {
  if (!etcdAvailable) return
  registry = await EtcdServer.start()
  services.push(await startGreeter(registry))
  caller = await startCaller(registry)
  // Under a prefix, as a user mounts the gateway in their own server.
  gateway = createGateway({ registry: caller.registry, client: caller.client, prefix: '/gw' })
  dashboard = mountDashboard(gateway, { title: 'Acme <staging>' })
  few = mountDashboard(gateway, { path: '/few', maxClients: 1 })
  base = `http://${await gateway.listen('127.0.0.1:0')}/gw`
})

afterAll(async () => {
  await dashboard?.close()
  await few?.close()
  await gateway?.close()
  for (const s of services) await s.stop()
  await caller?.stop()
  await registry?.stop()
})

function call(body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${base}/dashboard/api/call`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

/** Server-sent events as `{event, data}`, read from a fetch body. */
async function* events(res: Response): AsyncGenerator<{ event: string; data: unknown }> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buffer += decoder.decode(value, { stream: true })
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const event = /^event: (.*)$/m.exec(block)?.[1]
      const data = /^data: (.*)$/m.exec(block)?.[1]
      if (event && data) yield { event, data: JSON.parse(data) }
    }
  }
}

describe.runIf(etcdAvailable)('dashboard routes', () => {
  it('redirects to the trailing slash under the gateway prefix and serves the page', async () => {
    const moved = await fetch(`${base}/dashboard?x=1`, { redirect: 'manual' })
    expect(moved.status).toBe(308)
    expect(moved.headers.get('location')).toBe('/gw/dashboard/')
    const page = await fetch(`${base}/dashboard/`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(page.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY)
    const html = await page.text()
    // The title is text, never markup.
    expect(html).toContain('<title>Acme &lt;staging&gt; dashboard</title>')
    expect(html).not.toContain('{{title}}')
  })

  it('serves its files with an ETag, 304 when unchanged', async () => {
    const js = await fetch(`${base}/dashboard/app.js`)
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    const etag = js.headers.get('etag') ?? ''
    expect(etag).toMatch(/^".+"$/)
    const again = await fetch(`${base}/dashboard/app.js`, { headers: { 'If-None-Match': etag } })
    expect(again.status).toBe(304)
    expect((await fetch(`${base}/dashboard/style.css`)).headers.get('content-type')).toBe(
      'text/css; charset=utf-8',
    )
    expect((await fetch(`${base}/dashboard/nope.js`)).status).toBe(404)
  })

  it('lists the services with their versions, nodes and endpoints, each with its JSON Schema', async () => {
    const res = await fetch(`${base}/dashboard/api/services`)
    const body = (await res.json()) as { registry: string; services: ServiceView[] }
    expect(body.registry).toBe('etcd')
    const greeter = body.services.find((s) => s.name === 'greeter')
    expect(greeter?.versions).toHaveLength(1)
    const [v] = greeter?.versions ?? []
    expect(v.version).toBe('1.0.0')
    expect(v.nodes).toHaveLength(1)
    const hello = v.endpoints.find((e) => e.name === 'Greeter.Hello')
    expect(hello).toMatchObject({
      kind: 'call',
      metadata: { description: 'Greets a person by name' },
      request: { name: 'HelloRequest', type: 'HelloRequest', values: [{ name: 'name', type: 'string' }] },
      requestSchema: { type: 'object', title: 'HelloRequest', properties: { name: { type: 'string' } } },
    })
  })

  it('streams a snapshot, then each change of a service', async () => {
    const controller = new AbortController()
    const res = await fetch(`${base}/dashboard/api/events`, { signal: controller.signal })
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    const stream = events(res)
    const first = await stream.next()
    expect(first.value?.event).toBe('snapshot')
    const snapshot = first.value?.data as { services: ServiceView[] }
    expect(snapshot.services.map((s) => s.name)).toContain('greeter')
    services.push(await startGreeter(registry))
    let change: ServiceView | undefined
    for await (const ev of stream) {
      if (ev.event !== 'service') continue
      change = ev.data as ServiceView
      if (change.name === 'greeter' && change.versions[0]?.nodes.length === 2) break
    }
    expect(change?.versions[0].nodes).toHaveLength(2)
    controller.abort()
  })

  it('refuses more event streams than maxClients (503), and frees the place when one closes', async () => {
    const controller = new AbortController()
    const one = await fetch(`${base}/few/api/events`, { signal: controller.signal })
    expect(one.status).toBe(200)
    const two = await fetch(`${base}/few/api/events`)
    expect(two.status).toBe(503)
    expect(await two.json()).toMatchObject({ id: 'go.micro.dashboard', code: 503 })
    controller.abort()
    await expect
      .poll(async () => {
        const again = await fetch(`${base}/few/api/services`)
        return again.status
      })
      .toBe(200)
    const three = new AbortController()
    await expect
      .poll(async () => (await fetch(`${base}/few/api/events`, { signal: three.signal })).status)
      .toBe(200)
    three.abort()
  })

  it("reports each node's health: up for http nodes, reachable for a tcp node", async () => {
    const tcp = await createService({
      name: 'tcp-svc',
      plugins: [etcd],
      env: { ...serviceEnv(registry), MICRO_TRANSPORT: 'tcp' },
    })
    tcp.handle({ Ping: async () => ({ ok: true }) }, { name: 'Pinger' })
    await tcp.start()
    services.push(tcp)
    const greeter = (await (await fetch(`${base}/dashboard/api/health/greeter`)).json()) as {
      nodes: { status: string; checks?: { name: string }[] }[]
    }
    expect(greeter.nodes.map((n) => n.status)).toEqual(['up', 'up'])
    expect(greeter.nodes[0].checks?.map((c) => c.name)).toContain('registry')
    await expect
      .poll(async () => {
        const res = await fetch(`${base}/dashboard/api/health/tcp-svc`)
        return res.ok
          ? ((await res.json()) as { nodes: { status: string }[] }).nodes.map((n) => n.status)
          : []
      })
      .toEqual(['reachable'])
    const missing = await fetch(`${base}/dashboard/api/health/nope`)
    expect(missing.status).toBe(404)
  })

  it('calls an endpoint, on any node or on one named node', async () => {
    const res = await call({ service: 'greeter', endpoint: 'Greeter.Hello', request: { name: 'John' } })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ response: { greeting: 'Hello John' } })
    const { services: list } = (await (await fetch(`${base}/dashboard/api/services`)).json()) as {
      services: ServiceView[]
    }
    const address = list.find((s) => s.name === 'greeter')?.versions[0].nodes[1].address
    const pinned = await call({
      service: 'greeter',
      endpoint: 'Greeter.Hello',
      request: { name: 'N' },
      address,
    })
    expect(await pinned.json()).toMatchObject({ response: { greeting: 'Hello N' } })
  })

  it("answers the service's error with its status", async () => {
    const bad = await call({ service: 'greeter', endpoint: 'Greeter.Hello', request: { name: 42 } })
    expect(bad.status).toBe(400)
    expect(await bad.json()).toMatchObject({ error: { id: 'go.micro.server', code: 400 } })
    const gone = await call({ service: 'no-such-service', endpoint: 'X.Y', request: {} })
    expect(gone.status).toBe(404)
  })

  it('refuses bad calls with clear errors', async () => {
    const cases: [unknown, Record<string, string>, number, RegExp][] = [
      ['{"service":', {}, 400, /not JSON/],
      [[1, 2], {}, 400, /JSON object/],
      [{ endpoint: 'Greeter.Hello' }, {}, 400, /service must be/],
      [{ service: 'greeter' }, {}, 400, /endpoint must be/],
      [{ service: 'greeter', endpoint: 'Greeter.Hello', timeout: 'soon' }, {}, 400, /timeout/],
      [{ service: 'greeter', endpoint: 'Greeter.Hello', timeout: -5 }, {}, 400, /positive/],
      [{ service: 'greeter', endpoint: 'Greeter.Hello', headers: { a: 1 } }, {}, 400, /header a/],
      // Not a proxy to anywhere: only the service's own nodes.
      [
        { service: 'greeter', endpoint: 'Greeter.Hello', address: '127.0.0.1:1' },
        {},
        400,
        /not a node of greeter/,
      ],
      [
        { service: 'greeter', endpoint: 'Greeter.Hello' },
        { 'Content-Type': 'text/plain' },
        415,
        /application\/json/,
      ],
      [{ service: 'greeter', endpoint: 'Greeter.Hello' }, { Origin: 'http://evil.example' }, 403, /refused/],
    ]
    for (const [body, headers, status, detail] of cases) {
      const res = await call(body, headers)
      const json = (await res.json()) as { code: number; detail: string }
      expect({ status: res.status, body }).toEqual({ status, body })
      expect(json.code).toBe(status)
      expect(json.detail).toMatch(detail)
    }
    // The gateway still answers.
    expect(
      (await call({ service: 'greeter', endpoint: 'Greeter.Hello', request: { name: 'A' } })).status,
    ).toBe(200)
  })

  it("gives the call the form's timeout as its deadline", async () => {
    const res = await call({ service: 'greeter', endpoint: 'Greeter.Deadline', timeout: '3s' })
    const { deadline_ms } = ((await res.json()) as { response: { deadline_ms: number } }).response
    expect(deadline_ms).toBeGreaterThan(2000)
    expect(deadline_ms).toBeLessThanOrEqual(3000)
    const ms = await call({ service: 'greeter', endpoint: 'Greeter.Deadline', timeout: 1500 })
    expect(
      ((await ms.json()) as { response: { deadline_ms: number } }).response.deadline_ms,
    ).toBeLessThanOrEqual(1500)
  })
})
