/**
 * `client.service<Greeter>('greeter', 'Greeter').Hello({name})` is checked by the compiler:
 * the @ts-expect-error lines below fail `tsc -p packages/core/test` (part of `pnpm test`)
 * if the proxy ever stops catching these mistakes.
 */
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest'
import type { HandlerContext, MicroService } from '../src/index.js'
import { clientService, createMemoryRegistry, startService } from './helpers.js'

class Greeter {
  async Hello(req: { name: string }, _ctx?: HandlerContext): Promise<{ greeting: string }> {
    return { greeting: `Hello ${req.name}` }
  }
  Count(req: { n: number }): { doubled: number } {
    return { doubled: req.n * 2 }
  }
}

const open: MicroService[] = []
afterEach(async () => {
  for (const s of open.splice(0)) await s.stop()
})

describe('typed client', () => {
  it('calls through a proxy typed by the handler class', async () => {
    const registry = createMemoryRegistry()
    const server = await startService(registry, { name: 'greeter' })
    server.handle(new Greeter())
    const client = await clientService(registry)
    open.push(server, client)

    const greeter = client.client.service<Greeter>('greeter', 'Greeter')
    const rsp = await greeter.Hello({ name: 'John' })
    expectTypeOf(rsp).toEqualTypeOf<{ greeting: string }>()
    expect(rsp.greeting).toBe('Hello John')
    // Synchronous handlers are promised on the client side.
    const counted = await greeter.Count({ n: 21 }, { timeout: 1000 })
    expectTypeOf(counted).toEqualTypeOf<{ doubled: number }>()
    expect(counted.doubled).toBe(42)

    if (Math.random() > 2) {
      // Never runs: compile-time checks only.
      // @ts-expect-error wrong request field
      await greeter.Hello({ nom: 'x' })
      // @ts-expect-error wrong request type
      await greeter.Hello({ name: 42 })
      // @ts-expect-error no such endpoint
      await greeter.Goodbye({ name: 'x' })
      const r = await greeter.Hello({ name: 'x' })
      // @ts-expect-error no such response field
      r.salutation
    }
  })
})
