/**
 * The client side of the start-up rows: `node dist/startup-driver.js KIND CONFIG_JSON`, KIND
 * `ours` (our client over the HTTP transport, selector over an etcd registry), `moleculer`
 * (broker.call over NATS) or `raw` (undici to a plain node:http server). It is started (and warm)
 * before the server it waits for; `probe {service, address}` calls as fast as it can until a
 * call is answered and replies `{at, attempts}`, `at` being that answer's epoch time in ms.
 */
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  createLogger,
  createMemoryBroker,
  createMemoryStore,
  createService,
  loadPlugin,
} from '@micro-ts/core'
import { createEtcdRegistry } from '@micro-ts/registry-etcd'
import { Pool } from 'undici'
import type { MoleculerSettings } from './clients/types.js'
import { createBroker } from './moleculer.js'
import { GREETER_REQUEST, GREETING } from './payloads.js'
import { configArg, die, send, serveCommands } from './protocol.js'

export interface StartupConfig {
  etcd?: string
  moleculer?: MoleculerSettings
}

const KINDS = ['ours', 'moleculer', 'raw'] as const

const now = () => performance.timeOrigin + performance.now()

async function main() {
  const kind = process.argv[2] as (typeof KINDS)[number]
  if (!KINDS.includes(kind)) throw new Error(`unknown start-up driver ${kind}; one of ${KINDS.join(', ')}`)
  const config = configArg<StartupConfig>()
  let call: (c: Record<string, unknown>) => Promise<unknown>
  let close: () => Promise<void>
  if (kind === 'ours') {
    const logger = createLogger('silent')
    const registry = createEtcdRegistry({ addresses: [config.etcd!], logger })
    const transport = await loadPlugin('transport', 'http', { logger })
    const service = await createService({
      name: 'bench.startup.client',
      registry,
      broker: createMemoryBroker(),
      transport,
      store: createMemoryStore(),
      logger,
    })
    call = (c) =>
      service.client.call(String(c.service), 'Greeter.Hello', GREETER_REQUEST, { timeout: 2000, retries: 0 })
    close = async () => {
      await service.stop()
      await transport.close()
      await registry.close()
    }
  } else if (kind === 'moleculer') {
    const broker = createBroker('bench-startup-client', config.moleculer!)
    await broker.start()
    call = () => broker.call('greeter.hello', GREETER_REQUEST, { timeout: 2000, retries: 0 })
    close = () => broker.stop()
  } else {
    const pools = new Map<string, Pool>()
    call = async (c) => {
      const address = String(c.address)
      let pool = pools.get(address)
      if (!pool) {
        pool = new Pool(`http://${address}`, { connections: 1 })
        pools.set(address, pool)
      }
      const { statusCode, body } = await pool.request({
        method: 'POST',
        path: '/hello',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(GREETER_REQUEST),
      })
      const rsp = await body.json()
      if (statusCode !== 200) throw new Error(`status ${statusCode}`)
      return rsp
    }
    close = async () => {
      for (const p of pools.values()) await p.close()
    }
  }
  serveCommands(
    {
      async probe(c) {
        const deadline = Date.now() + Number(c.timeoutMs ?? 60_000)
        let attempts = 0
        for (;;) {
          attempts++
          try {
            const rsp = (await call(c)) as { greeting?: string }
            if (rsp?.greeting !== GREETING) throw new Error(`unexpected answer ${JSON.stringify(rsp)}`)
            return { at: now(), attempts }
          } catch (e) {
            if (Date.now() > deadline)
              throw new Error(`no answer within the deadline: ${(e as Error).message}`)
            // A refused connection or "not found" comes back at once: try again almost at once.
            await sleep(2)
          }
        }
      },
    },
    () => close(),
  )
  send({ ready: true })
}

main().catch(die)
