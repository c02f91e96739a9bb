/** Moleculer as its users run it: broker.call('greeter.hello'), over the TCP or NATS transporter. */
import { createBroker } from '../moleculer.js'
import { bigBody, checkResponse, GREETER_REQUEST } from '../payloads.js'
import type { BenchClient, DriverConfig } from './types.js'

export async function create(config: DriverConfig): Promise<BenchClient> {
  if (!config.moleculer) throw new Error('moleculer: settings missing')
  const broker = createBroker('bench-client', config.moleculer)
  await broker.start()
  await broker.waitForServices('greeter', 15_000)
  const big = bigBody()
  return {
    async call(kind) {
      const rsp =
        kind === 'greeter'
          ? await broker.call('greeter.hello', GREETER_REQUEST)
          : await broker.call('greeter.echo', big)
      checkResponse(kind, rsp, big.items.length)
    },
    async close() {
      await broker.stop()
    },
  }
}
