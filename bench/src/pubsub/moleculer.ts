/** Moleculer events over its NATS transporter: `broker.emit(event, payload)` to a service's `events` handler. */
import type { Context } from 'moleculer'
import { createBroker } from '../moleculer.js'
import type { BenchPublisher, BenchSubscriber, PubSubConfig } from './types.js'

const EVENT = 'bench.event'

export async function publisher(config: PubSubConfig): Promise<BenchPublisher> {
  const broker = createBroker('bench-publisher', {
    kind: 'nats',
    namespace: config.namespace,
    nats: config.nats,
  })
  await broker.start()
  await broker.waitForServices('bench-subscriber', 15_000)
  return {
    publish: (message) => broker.emit(EVENT, message),
    close: () => broker.stop(),
  }
}

export async function subscriber(
  config: PubSubConfig,
  onMessage: (message: unknown) => void,
): Promise<BenchSubscriber> {
  const broker = createBroker('bench-subscriber', {
    kind: 'nats',
    namespace: config.namespace,
    nats: config.nats,
  })
  broker.createService({
    name: 'bench-subscriber',
    events: {
      [EVENT]: (ctx: Context<unknown>) => onMessage(ctx.params),
    },
  })
  await broker.start()
  return { close: () => broker.stop() }
}
