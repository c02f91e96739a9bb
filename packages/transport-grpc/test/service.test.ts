/**
 * The transport inside services: the seed's greeter over gRPC on both sides (memory registry),
 * and `MICRO_TRANSPORT=grpc` through core's plugin loader in a process of its own.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expectReadmeOptions } from '@micro-ts/conformance/testing'
import {
  createMemoryBroker,
  createMemoryRegistry,
  createService,
  MicroError,
  type RpcServerStream,
  silentLogger,
} from '@micro-ts/core'
import { createPlugin } from '@micro-ts/core/plugin'
import { describe, expect, it } from 'vitest'
import plugin, { createGrpcTransport, GrpcTransport } from '../src/index.js'
import { defer, echo, message, rejection, serve } from './helpers.js'

class Greeter {
  async Hello(req: { name: string }) {
    if (!req.name) throw new MicroError('greeter.hello', 400, 'name is required')
    return { greeting: `Hello ${req.name}` }
  }

  async Chat(stream: RpcServerStream<{ name: string }, { greeting: string }>) {
    for await (const m of stream) await stream.send({ greeting: `Hello ${m.name}` })
  }
}

describe('greeter over gRPC', () => {
  it('a client service calls Greeter.Hello and streams Greeter.Chat on a server service', async () => {
    const registry = createMemoryRegistry()
    const server = await createService({
      name: 'greeter',
      version: '1.0.0',
      address: '127.0.0.1:0',
      registry,
      broker: createMemoryBroker(),
      transport: createGrpcTransport(),
      logger: silentLogger,
    })
    server.handle(new Greeter(), { endpoints: { Chat: { stream: true } } })
    await server.start()
    defer(() => server.stop())
    const caller = await createService({
      name: 'greeter.client',
      registry,
      broker: createMemoryBroker(),
      transport: createGrpcTransport(),
      logger: silentLogger,
    })
    defer(() => caller.stop())
    expect(caller.transport.name).toBe('grpc')

    expect(await caller.client.call('greeter', 'Greeter.Hello', { name: 'John' })).toEqual({
      greeting: 'Hello John',
    })
    const names = Array.from({ length: 200 }, (_, i) => `n${i}`)
    const answers = await Promise.all(
      names.map((name) => caller.client.call('greeter', 'Greeter.Hello', { name })),
    )
    expect(answers).toEqual(names.map((n) => ({ greeting: `Hello ${n}` })))
    await expect(caller.client.call('greeter', 'Greeter.Hello', { name: '' })).rejects.toMatchObject({
      id: 'greeter.hello',
      code: 400,
      detail: 'name is required',
    })
    await expect(caller.client.call('greeter', 'Greeter.Nope', {})).rejects.toMatchObject({ code: 404 })

    const chat = await caller.client.stream<{ name: string }, { greeting: string }>('greeter', 'Greeter.Chat')
    for (const name of ['a', 'b', 'c']) {
      await chat.send({ name })
      expect(await chat.recv()).toEqual({ greeting: `Hello ${name}` })
    }
    await chat.closeSend()
    expect(await chat.recv()).toBeUndefined()
    await chat.close()
  })
})

describe('plugin', () => {
  it('the default export is a transport plugin named grpc; options are checked', async () => {
    expect(plugin.kind).toBe('transport')
    expect(plugin.name).toBe('grpc')
    const t = await createPlugin(plugin, { options: { poolSize: '2' }, logger: silentLogger })
    defer(() => t.close())
    expect(t).toBeInstanceOf(GrpcTransport)
    await expect(createPlugin(plugin, { options: { chanels: 2 } })).rejects.toMatchObject({
      id: 'go.micro.transport',
      code: 400,
      detail: expect.stringMatching(/unknown option chanels; accepted: poolSize, /),
    })
    // Every option can come from the environment, and MICRO_CLIENT_POOL_SIZE means poolSize here.
    const fromEnv = await createPlugin(plugin, {
      env: { MICRO_TRANSPORT_GRPC_MAX_MESSAGE_SIZE: '2048' },
      sharedOptions: { poolSize: 10 },
    })
    defer(() => fromEnv.close())
    const { address } = await serve(echo)
    expect((await rejection(fromEnv.request(address, message(Buffer.alloc(4096))))).code).toBe(413)
  })

  it('MICRO_TRANSPORT=grpc selects it through core’s plugin loader', async () => {
    const script = `
      import { createService } from '@micro-ts/core'
      const svc = await createService({ name: 'env-greeter', address: '127.0.0.1:0' })
      svc.handle({ async Hello(req) { return { greeting: 'Hello ' + req.name } } }, { name: 'Greeter' })
      await svc.start()
      const rsp = await svc.client.call('env-greeter', 'Greeter.Hello', { name: 'env' })
      console.log(JSON.stringify({ transport: svc.transport.name, rsp }))
      await svc.stop()
      process.exit(0)
    `
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script],
        {
          // From the package's own folder the loader resolves `@micro-ts/transport-grpc` (self-reference).
          cwd: fileURLToPath(new URL('..', import.meta.url)),
          env: {
            ...process.env,
            MICRO_TRANSPORT: 'grpc',
            MICRO_REGISTRY: 'memory',
            MICRO_BROKER: 'memory',
            MICRO_LOG_LEVEL: 'error',
          },
          timeout: 20_000,
        },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    )
    expect(JSON.parse(out.trim().split('\n').at(-1) as string)).toEqual({
      transport: 'grpc',
      rsp: { greeting: 'Hello env' },
    })
  })
})

describe('docs', () => {
  it('the README carries the option table generated from the declarations', () => {
    expectReadmeOptions(new URL('../README.md', import.meta.url), plugin)
  })
})
