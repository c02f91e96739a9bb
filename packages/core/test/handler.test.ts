/**
 * Which methods of a handler become endpoints: go-micro's rule (names that start with an
 * upper-case letter) or an explicit list, own class methods only unless inherited ones are asked
 * for. TypeScript's `private` does not exist at run time, so nothing else may leak.
 */
import { EventEmitter } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { MicroError, type MicroService } from '../src/index.js'
import { createMemoryRegistry, startService } from './helpers.js'

const open: MicroService[] = []
afterEach(async () => {
  for (const s of open.splice(0)) await s.stop()
})

async function serve(handler: object, options: Parameters<MicroService['handle']>[1] = {}) {
  const registry = createMemoryRegistry()
  const service = await startService(registry, { name: 'svc' })
  open.push(service)
  service.handle(handler, options)
  return { service, registry }
}

async function endpointNames(service: MicroService): Promise<string[]> {
  const [record] = await service.registry.getService('svc')
  return (record.endpoints ?? []).map((e) => e.name).sort()
}

/** A plain HTTP POST, as curl would send it: the error (if any) from its Micro-Error header. */
async function post(service: MicroService, endpoint: string): Promise<MicroError | undefined> {
  const res = await fetch(`http://${service.server.address}/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Micro-Service': 'svc', 'Micro-Endpoint': endpoint },
    body: '{}',
  })
  await res.arrayBuffer()
  const header = res.headers.get('micro-error')
  return header ? MicroError.parse(header) : undefined
}

describe('handler exposure', () => {
  it('a TypeScript private method is not callable over a plain HTTP POST', async () => {
    const calls: string[] = []
    class Accounts {
      async Balance() {
        return { balance: 1 }
      }
      Refresh = async () => ({ refreshed: true })
      private async resetAll() {
        calls.push('resetAll')
        return { wiped: true }
      }
      protected async audit() {
        calls.push('audit')
      }
      private purge = async () => {
        calls.push('purge')
      }
      async #wipe() {
        calls.push('wipe')
      }
      /** Keeps the private members "used" for the compiler. */
      Touch() {
        return [this.resetAll, this.audit, this.purge, this.#wipe].length
      }
    }
    const { service } = await serve(new Accounts())
    expect(await endpointNames(service)).toEqual(['Accounts.Balance', 'Accounts.Refresh', 'Accounts.Touch'])
    for (const name of ['resetAll', 'audit', 'purge', 'wipe', '#wipe', 'constructor']) {
      const err = await post(service, `Accounts.${name}`)
      expect(err?.code, name).toBe(404)
    }
    expect(calls).toEqual([])
    expect(await post(service, 'Accounts.Balance')).toBeUndefined()
  })

  it('a class extending EventEmitter exposes none of its 15 methods', async () => {
    class Notifier extends EventEmitter {
      async Notify() {
        return { ok: true }
      }
    }
    const inherited = Object.getOwnPropertyNames(EventEmitter.prototype).filter(
      (k) =>
        k !== 'constructor' &&
        typeof Object.getOwnPropertyDescriptor(EventEmitter.prototype, k)?.value === 'function',
    )
    expect(inherited.length).toBeGreaterThanOrEqual(15)
    expect(inherited).toContain('removeAllListeners')
    const notifier = new Notifier()
    const onError = () => {}
    notifier.on('error', onError)
    const { service } = await serve(notifier)
    expect(await endpointNames(service)).toEqual(['Notifier.Notify'])
    for (const name of inherited) expect((await post(service, `Notifier.${name}`))?.code, name).toBe(404)
    expect(notifier.listeners('error')).toEqual([onError])

    // Asking for inherited methods does not change that: none passes go-micro's rule.
    const again = new Notifier()
    const { service: second } = await serve(again, { inherited: true })
    expect(await endpointNames(second)).toEqual(['Notifier.Notify'])
    expect((await post(second, 'Notifier.removeAllListeners'))?.code).toBe(404)
  })

  it('inherited upper-case methods are served only when asked for', async () => {
    class Base {
      async Ping() {
        return { pong: true }
      }
    }
    class Child extends Base {
      async Hello() {
        return { hello: true }
      }
    }
    const { service } = await serve(new Child())
    expect(await endpointNames(service)).toEqual(['Child.Hello'])
    expect((await post(service, 'Child.Ping'))?.code).toBe(404)
    const { service: asked } = await serve(new Child(), { inherited: true })
    expect(await endpointNames(asked)).toEqual(['Child.Hello', 'Child.Ping'])
    expect(await post(asked, 'Child.Ping')).toBeUndefined()
  })

  it('an explicit list serves exactly the methods it names, whatever their case', async () => {
    const handler = {
      hello: async () => ({ hi: true }),
      stats: async () => ({ n: 1 }),
      secret: async () => ({ leaked: true }),
      Upper: async () => ({ upper: true }),
    }
    const { service } = await serve(handler, { name: 'Lower', methods: ['hello', 'stats'] })
    expect(await endpointNames(service)).toEqual(['Lower.hello', 'Lower.stats'])
    expect((await post(service, 'Lower.secret'))?.code).toBe(404)
    expect((await post(service, 'Lower.Upper'))?.code).toBe(404)
    expect(await post(service, 'Lower.hello')).toBeUndefined()
  })

  it('refuses lists and endpoint specs that name no servable method, and Object.prototype members', async () => {
    const { service } = await serve({ Hello: async () => ({}) }, { name: 'Ok' })
    expect(() => service.handle({ hello: async () => ({}) }, { name: 'A', methods: ['nope'] })).toThrow(
      /nope is not a method of A/,
    )
    expect(() => service.handle({ hello: async () => ({}) }, { name: 'B', methods: ['toString'] })).toThrow(
      /toString/,
    )
    expect(() =>
      service.handle(
        { Hello: async () => ({}), hello: async () => ({}) },
        { name: 'C', endpoints: { hello: { stream: true } } },
      ),
    ).toThrow(/hello is not served/)
    // Nothing passes the rule: a clear error that says what the rule is.
    expect(() => service.handle({ hello: async () => ({}) }, { name: 'D' })).toThrow(/upper-case/)
  })
})
