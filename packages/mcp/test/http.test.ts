/**
 * `/mcp` on the gateway, the parts only the HTTP form has: the bearer token, the Origin check,
 * the caller's deadline from go-micro's `Timeout` header, cancellation reaching the handler,
 * sessions (refused without one, ended by DELETE, capped), and the per-tool rate limit.
 */
import { EtcdServer } from '@micro-ts/conformance/testing/etcd'
import type { MicroService } from '@micro-ts/core'
import { createGateway, type Gateway } from '@micro-ts/gateway'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type McpEndpoint, mountMcp } from '../src/index.js'
import { answer, etcdAvailable, httpClient, newClient, seen, startCaller, startGreeter } from './helpers.js'

const TOKEN = 'http-test-token'
const auth = { Authorization: `Bearer ${TOKEN}` }
let registry: EtcdServer
let greeter: MicroService
let caller: MicroService
let gateway: Gateway
let open: McpEndpoint
let limited: McpEndpoint
let capped: McpEndpoint
let base = ''

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } },
}

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

beforeAll(async () => {
  if (!etcdAvailable) return
  registry = await EtcdServer.start()
  greeter = await startGreeter(registry)
  caller = await startCaller(registry)
  gateway = createGateway({ registry: caller.registry, client: caller.client })
  open = mountMcp(gateway, { token: TOKEN })
  // One call per tool, then none for a thousand seconds: the second call is over the limit.
  limited = mountMcp(gateway, { path: '/mcp-limited', rateLimit: { perSecond: 0.001, burst: 1 } })
  capped = mountMcp(gateway, { path: '/mcp-capped', maxSessions: 1 })
  base = `http://${await gateway.listen('127.0.0.1:0')}`
})

afterAll(async () => {
  for (const e of [open, limited, capped]) await e?.close()
  await gateway?.close()
  await greeter?.stop()
  await caller?.stop()
  await registry?.stop()
})

describe.runIf(etcdAvailable)('MCP over streamable HTTP on the gateway', () => {
  it('refuses a request without the bearer token, or with a wrong one (401)', async () => {
    const none = await post('/mcp', initialize)
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="micro"')
    const wrong = await post('/mcp', initialize, { Authorization: 'Bearer nope' })
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('www-authenticate')).toContain('invalid_token')
    const client = newClient()
    const refused = await client
      .connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`)))
      .then(() => 'connected')
      .catch((e: Error) => e.message)
    expect(refused).not.toBe('connected')
    expect(open.sessions).toBe(0)
  })

  it('refuses a web page from another origin (403), and the token does not reach the service', async () => {
    const res = await post('/mcp', initialize, { ...auth, Origin: 'http://evil.example' })
    expect(res.status).toBe(403)
    const client = await httpClient(`${base}/mcp`, auth)
    const result = await client.callTool({ name: 'greeter.Greeter.Hello', arguments: { name: 'T' } })
    expect(answer(result)).toEqual({ greeting: 'Hello T', tool: 'greeter.Greeter.Hello' })
    await client.close()
  })

  it('answers a request without a session 400, an unknown session 404, a body that is not JSON 400', async () => {
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' }
    const noSession = await post('/mcp', list, auth)
    expect(noSession.status).toBe(400)
    expect(((await noSession.json()) as { error: { code: number } }).error.code).toBe(-32600)
    const unknown = await post('/mcp', list, { ...auth, 'Mcp-Session-Id': 'no-such-session' })
    expect(unknown.status).toBe(404)
    const notJson = await post('/mcp', '{"jsonrpc":', auth)
    expect(notJson.status).toBe(400)
    expect(((await notJson.json()) as { error: { code: number } }).error.code).toBe(-32700)
  })

  it("carries the caller's deadline (go-micro's Timeout header, ns) to the service, and answers 408 at it", async () => {
    const client = await httpClient(`${base}/mcp`, { ...auth, Timeout: String(2_000 * 1e6) })
    const ok = await client.callTool({ name: 'greeter.Greeter.Slow', arguments: { ms: 1 } })
    const { deadline_ms } = answer(ok) as { deadline_ms: number }
    expect(deadline_ms).toBeGreaterThan(1000)
    expect(deadline_ms).toBeLessThanOrEqual(2000)
    await client.close()
    const short = await httpClient(`${base}/mcp?timeout=200ms`, auth)
    const late = await short.callTool({ name: 'greeter.Greeter.Slow', arguments: { ms: 10_000 } })
    expect(late.isError).toBe(true)
    expect(answer(late)).toMatchObject({ code: 408 })
    await short.close()
  })

  it("an MCP client's cancellation reaches the handler", async () => {
    const client = await httpClient(`${base}/mcp`, auth)
    const before = seen.aborted
    const started = seen.slowStarted
    const controller = new AbortController()
    const call = client.callTool({ name: 'greeter.Greeter.Slow', arguments: { ms: 20_000 } }, undefined, {
      signal: controller.signal,
    })
    call.catch(() => {})
    // Cancel once the handler is running: its abort is what is asserted.
    await expect.poll(() => seen.slowStarted, { timeout: 10_000 }).toBeGreaterThan(started)
    controller.abort('the user gave up')
    await expect(call).rejects.toThrow()
    await expect.poll(() => seen.aborted, { timeout: 10_000 }).toBeGreaterThan(before)
    await client.close()
  })

  it('DELETE ends a session', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
      requestInit: { headers: auth },
    })
    const client = newClient()
    await client.connect(transport)
    const count = open.sessions
    expect(count).toBeGreaterThan(0)
    await transport.terminateSession()
    await expect.poll(() => open.sessions).toBe(count - 1)
    await client.close()
  })

  it('past maxSessions a new client gets a 503; a closed one frees its place', async () => {
    const first = new StreamableHTTPClientTransport(new URL(`${base}/mcp-capped`))
    const client = newClient()
    await client.connect(first)
    const second = await post('/mcp-capped', initialize)
    expect(second.status).toBe(503)
    await first.terminateSession()
    await client.close()
    await expect.poll(() => capped.sessions).toBe(0)
    const third = await post('/mcp-capped', initialize)
    expect(third.status).toBe(200)
  })

  it('a tool over its rate limit answers a 429 tool error without calling the service', async () => {
    const client = await httpClient(`${base}/mcp-limited`)
    const first = await client.callTool({ name: 'greeter.Greeter.Hello', arguments: { name: 'A' } })
    expect(first.isError).toBeFalsy()
    const second = await client.callTool({ name: 'greeter.Greeter.Hello', arguments: { name: 'B' } })
    expect(second.isError).toBe(true)
    expect(answer(second)).toMatchObject({ id: 'go.micro.mcp', code: 429, status: 'Too Many Requests' })
    // Limits are per tool: another tool still has its own call.
    const other = await client.callTool({ name: 'greeter.Greeter.Slow', arguments: { ms: 1 } })
    expect(other.isError).toBeFalsy()
    await client.close()
  })
})
