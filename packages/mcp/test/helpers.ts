/**
 * What the MCP tests share: a private etcd (so the tool list holds only the services the test
 * starts), a greeter with a schema-checked endpoint, a slow one and a stream, an admin service
 * that the allow list keeps out, and MCP clients (the SDK's own) over both transports.
 */
import { fileURLToPath } from 'node:url'
import { requireThat } from '@micro-ts/conformance/testing'
import { EtcdServer } from '@micro-ts/conformance/testing/etcd'
import { createService, type HandlerContext, type MicroService, type RpcServerStream } from '@micro-ts/core'
import etcd from '@micro-ts/registry-etcd'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { z } from 'zod'

export const etcdAvailable = requireThat(
  EtcdServer.available(),
  'etcd is not installed (bash scripts/backends.sh etcd)',
)

export function serviceEnv(registry: EtcdServer): Record<string, string> {
  return {
    MICRO_REGISTRY: 'etcd',
    MICRO_REGISTRY_ADDRESS: registry.address,
    MICRO_SERVER_ADDRESS: '127.0.0.1:0',
    MICRO_BROKER: 'memory',
    MICRO_LOG_LEVEL: 'silent',
  }
}

/** What the services' handlers saw, for the tests to check. */
export const seen = { adminCalls: 0, slowStarted: 0, aborted: 0 }

const HelloRequest = z.object({ name: z.string().min(1), times: z.number().int().optional() })

class Greeter {
  async Hello(req: z.output<typeof HelloRequest>, ctx: HandlerContext) {
    const leaked = ctx.headers.authorization
    return {
      greeting: `Hello ${req.name}`,
      tool: ctx.headers['mcp-tool-name'] ?? null,
      ...(leaked ? { leaked } : {}),
    }
  }

  /** Reports the deadline it was given, then sleeps `ms` unless the deadline or a cancel comes first. */
  async Slow(req: { ms: number }, ctx: HandlerContext) {
    const left = ctx.deadline === undefined ? -1 : ctx.deadline - Date.now()
    seen.slowStarted++
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, req.ms)
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t)
        seen.aborted++
        reject(ctx.signal.reason)
      })
    })
    return { deadline_ms: Math.round(left) }
  }

  async Stream(stream: RpcServerStream<{ name: string }, { greeting: string }>) {
    for await (const msg of stream) await stream.send({ greeting: `Hello ${msg.name}` })
  }
}

class Admin {
  async Reset() {
    seen.adminCalls++
    return { reset: true }
  }
}

async function start(
  registry: EtcdServer,
  name: string,
  handler: object,
  options: Parameters<MicroService['handle']>[1] = {},
) {
  const service = await createService({ name, version: '1.0.0', plugins: [etcd], env: serviceEnv(registry) })
  service.handle(handler, options)
  await service.start()
  return service
}

export function startGreeter(registry: EtcdServer): Promise<MicroService> {
  return start(registry, 'greeter', new Greeter(), {
    endpoints: {
      Hello: {
        request: HelloRequest,
        response: z.object({ greeting: z.string() }),
        metadata: { description: 'Greets a person by name', example: '{"name":"John"}' },
      },
      Slow: {},
      Stream: { stream: true },
    },
  })
}

export function startAdmin(registry: EtcdServer): Promise<MicroService> {
  return start(registry, 'admin', new Admin())
}

/** Another service, started mid-test: its tools must appear. */
export function startBilling(registry: EtcdServer, name: string): Promise<MicroService> {
  class Invoices {
    async Total(req: { items: number[] }) {
      return { total: (req.items ?? []).reduce((a, b) => a + b, 0) }
    }
  }
  return start(registry, name, new Invoices(), {
    endpoints: { Total: { request: z.object({ items: z.array(z.number()) }) } },
  })
}

export function startCaller(registry: EtcdServer): Promise<MicroService> {
  return createService({ name: 'micro.mcp', plugins: [etcd], env: serviceEnv(registry) })
}

export function newClient(): Client {
  return new Client({ name: 'micro-ts-test', version: '1.0.0' })
}

export async function httpClient(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = newClient()
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }))
  return client
}

/** `micro mcp` as an MCP client starts it: a child process speaking MCP on its stdin and stdout. */
export async function stdioClient(registry: EtcdServer, env: Record<string, string> = {}): Promise<Client> {
  const client = newClient()
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [fileURLToPath(new URL('./fixtures/stdio-server.mjs', import.meta.url))],
      env: { PATH: process.env.PATH ?? '', ...serviceEnv(registry), ...env },
      stderr: 'inherit',
    }),
  )
  return client
}

/** The JSON a tool answered with (its first content block, text). */
export function answer(result: Record<string, unknown>): unknown {
  const content = result.content as { type: string; text?: string }[] | undefined
  if (!Array.isArray(content) || content[0]?.type !== 'text') {
    throw new Error(`not a text result: ${JSON.stringify(result)}`)
  }
  return JSON.parse(content[0].text ?? '')
}
