/**
 * The MCP gateway as an MCP client sees it, with the SDK's own client over both transports:
 * streamable HTTP on the gateway (`/mcp`) and stdio (a child process, as `micro mcp` is started
 * by a desktop client). Tools from the registry, a call, a schema 400 as a tool error, a new
 * service's tools announced with list_changed, and an endpoint outside the allow list that is
 * neither listed nor callable.
 */
import { EtcdServer } from '@micro-ts/conformance/testing/etcd'
import type { MicroService } from '@micro-ts/core'
import { createGateway, type Gateway } from '@micro-ts/gateway'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { ErrorCode, McpError, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type McpEndpoint, mountMcp } from '../src/index.js'
import {
  answer,
  etcdAvailable,
  httpClient,
  seen,
  startAdmin,
  startBilling,
  startCaller,
  startGreeter,
  stdioClient,
} from './helpers.js'

const TOKEN = 'test-token-4b1f'
let registry: EtcdServer
const services: MicroService[] = []
let caller: MicroService
let gateway: Gateway
let endpoint: McpEndpoint
let base = ''

beforeAll(async () => {
  if (!etcdAvailable) return
  registry = await EtcdServer.start()
  services.push(await startGreeter(registry), await startAdmin(registry))
  caller = await startCaller(registry)
  gateway = createGateway({ registry: caller.registry, client: caller.client })
  // Everything but the admin service: greeter by name, billing services by pattern.
  endpoint = mountMcp(gateway, { token: TOKEN, allow: ['greeter', 'billing-*'] })
  base = `http://${await gateway.listen('127.0.0.1:0')}`
})

afterAll(async () => {
  await endpoint?.close()
  await gateway?.close()
  for (const s of services) await s.stop()
  await caller?.stop()
  await registry?.stop()
})

const transports: [string, () => Promise<Client>][] = [
  ['streamable HTTP', () => httpClient(`${base}/mcp`, { Authorization: `Bearer ${TOKEN}` })],
  ['stdio', () => stdioClient(registry, { MCP_ALLOW: 'greeter,billing-*' })],
]

describe.runIf(etcdAvailable).each(transports)('MCP over %s', (label, connect) => {
  let client: Client
  const changed: number[] = []

  beforeAll(async () => {
    client = await connect()
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
      changed.push(Date.now())
    })
  })

  afterAll(async () => {
    await client?.close()
  })

  it('lists one tool per callable endpoint, named and described from the registry', async () => {
    const { tools } = await client.listTools()
    const names = tools.map((t) => t.name)
    expect(names).toEqual(['greeter.Greeter.Hello', 'greeter.Greeter.Slow'])
    const hello = tools[0]
    expect(hello.description).toBe('Greets a person by name\nReturns HelloResponse {greeting string}.')
    expect(hello.title).toBe('greeter Greeter.Hello')
    expect(hello.inputSchema).toEqual({
      type: 'object',
      title: 'HelloRequest',
      properties: { name: { type: 'string' }, times: { type: 'integer' } },
      examples: [{ name: 'John' }],
    })
    expect(tools[1].description).toBe('Calls Greeter.Slow on the greeter service (version 1.0.0).')
    expect(client.getServerCapabilities()?.tools?.listChanged).toBe(true)
  })

  it('calls Greeter.Hello', async () => {
    const result = await client.callTool({ name: 'greeter.Greeter.Hello', arguments: { name: 'John' } })
    expect(result.isError).toBeFalsy()
    expect(answer(result)).toEqual({ greeting: 'Hello John', tool: 'greeter.Greeter.Hello' })
    expect(result.structuredContent).toEqual({ greeting: 'Hello John', tool: 'greeter.Greeter.Hello' })
  })

  it("returns the service's 400 for a bad input as a tool error", async () => {
    const result = await client.callTool({ name: 'greeter.Greeter.Hello', arguments: { name: 42 } })
    expect(result.isError).toBe(true)
    const err = answer(result) as Record<string, unknown>
    expect(err).toMatchObject({ id: 'go.micro.server', code: 400, status: 'Bad Request' })
    expect(String(err.detail)).toMatch(/^Greeter\.Hello: invalid request: name: /)
    expect(result.structuredContent).toEqual({ error: err })
  })

  it('neither lists nor calls an endpoint outside the allow list', async () => {
    const { tools } = await client.listTools()
    expect(tools.some((t) => t.name.startsWith('admin.'))).toBe(false)
    const before = seen.adminCalls
    const refused = await client
      .callTool({ name: 'admin.Admin.Reset', arguments: {} })
      .catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(McpError)
    expect((refused as McpError).code).toBe(ErrorCode.InvalidParams)
    expect((refused as McpError).message).toContain('Unknown tool: admin.Admin.Reset')
    expect(seen.adminCalls).toBe(before)
  })

  it("shows a new service's tools, announced with tools/list_changed", async () => {
    const name = `billing-${label === 'stdio' ? 'stdio' : 'http'}`
    const notified = changed.length
    services.push(await startBilling(registry, name))
    await expect.poll(() => changed.length, { timeout: 15_000 }).toBeGreaterThan(notified)
    await expect
      .poll(async () => (await client.listTools()).tools.map((t) => t.name), { timeout: 15_000 })
      .toContain(`${name}.Invoices.Total`)
    const total = await client.callTool({ name: `${name}.Invoices.Total`, arguments: { items: [1, 2, 3.5] } })
    expect(answer(total)).toEqual({ total: 6.5 })
  })

  it('a stopped service takes its tools away', async () => {
    const name = `billing-${label === 'stdio' ? 'stdio' : 'http'}`
    const billing = services.splice(
      services.findIndex((s) => s.name === name),
      1,
    )[0]
    await billing.stop()
    await expect
      .poll(async () => (await client.listTools()).tools.map((t) => t.name), { timeout: 15_000 })
      .not.toContain(`${name}.Invoices.Total`)
  })
})
