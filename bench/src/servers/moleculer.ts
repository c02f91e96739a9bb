/** Moleculer's greeter: service `greeter` with actions `hello` and `echo`. */
import type { Context } from 'moleculer'
import { createBroker } from '../moleculer.js'
import { type Big, echo, type HelloRequest, hello } from '../payloads.js'
import type { BenchServer, ServerConfig } from './types.js'

export async function start(config: ServerConfig): Promise<BenchServer> {
  if (!config.moleculer) throw new Error('moleculer: settings missing')
  const broker = createBroker('bench-server', config.moleculer)
  broker.createService({
    name: 'greeter',
    actions: {
      hello: (ctx: Context<HelloRequest>) => hello(ctx.params),
      echo: (ctx: Context<Big>) => echo(ctx.params),
    },
  })
  await broker.start()
  return {
    info: { address: config.moleculer.kind === 'tcp' ? `127.0.0.1:${config.moleculer.port}` : 'nats' },
    close: () => broker.stop(),
  }
}
