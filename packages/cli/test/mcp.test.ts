/**
 * `micro mcp` as an MCP client starts it (the SDK's StdioClientTransport running the binary),
 * and `micro api --dashboard --mcp-token` serving the dashboard and `/mcp`, against a greeter
 * on the shared etcd. Only the greeter is allowed: other tests' services share that etcd.
 */
import { uniqueName } from '@micro-ts/conformance/testing'
import type { MicroService } from '@micro-ts/core'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, etcdUp, Running, startGreeter, testEnv } from './helpers.js'

const up = await etcdUp()
const name = uniqueName('mcp.greeter')
let greeter: MicroService
let api: Running | undefined

beforeAll(async () => {
  if (up) greeter = await startGreeter(name)
})

afterAll(async () => {
  await api?.interrupt()
  await greeter?.stop()
})

function text(result: Record<string, unknown>): unknown {
  const [first] = result.content as { type: string; text: string }[]
  return JSON.parse(first.text)
}

describe.runIf(up)('micro mcp and micro api --dashboard --mcp', () => {
  it('micro mcp: tools over stdio, a call, a 400 as a tool error', async () => {
    const client = new Client({ name: 'cli-test', version: '1.0.0' })
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [BIN, 'mcp', '--allow', name],
        env: testEnv(),
        stderr: 'pipe',
      }),
    )
    try {
      const { tools } = await client.listTools()
      // The stream is no tool; Hello and Slow are.
      expect(tools.map((t) => t.name)).toEqual([`${name}.Greeter.Hello`, `${name}.Greeter.Slow`])
      const ok = await client.callTool({ name: `${name}.Greeter.Hello`, arguments: { name: 'John' } })
      expect(text(ok)).toMatchObject({ greeting: 'Hello John' })
      const bad = await client.callTool({ name: `${name}.Greeter.Hello`, arguments: { name: 42 } })
      expect(bad.isError).toBe(true)
      expect(text(bad)).toMatchObject({ code: 400 })
    } finally {
      await client.close()
    }
  })

  it('micro api --dashboard --mcp-token: the page, and /mcp behind the token', async () => {
    api = new Running([
      'api',
      '--address',
      '127.0.0.1:0',
      '--dashboard',
      '--mcp-token',
      'cli-token',
      '--allow',
      name,
    ])
    const [, address] = await api.waitFor(/gateway listening on http:\/\/(\S+)/)
    await api.waitFor(/dashboard: http:\/\/\S+\/dashboard\//)
    const base = `http://${address}`
    const page = await fetch(`${base}/dashboard/`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('<title>Micro dashboard</title>')
    const listed = (await (await fetch(`${base}/dashboard/api/services`)).json()) as {
      services: { name: string }[]
    }
    expect(listed.services.map((s) => s.name)).toContain(name)
    expect((await fetch(`${base}/mcp`, { method: 'POST', body: '{}' })).status).toBe(401)
    const client = new Client({ name: 'cli-test', version: '1.0.0' })
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
        requestInit: { headers: { Authorization: 'Bearer cli-token' } },
      }),
    )
    const ok = await client.callTool({ name: `${name}.Greeter.Hello`, arguments: { name: 'Jane' } })
    expect(text(ok)).toMatchObject({ greeting: 'Hello Jane' })
    await client.close()
    expect(await api.interrupt()).toBe(0)
  })
})
