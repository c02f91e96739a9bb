/**
 * Our pub/sub as a user writes it: `client.publish(topic, object)` on one service and
 * `service.subscribe(topic, fn)` on another, both on @micro-ts/broker-nats (go-micro's NATS
 * wire: a JSON envelope with the base64 body), JSON codec.
 */
import { createNatsBroker } from '@micro-ts/broker-nats'
import {
  createLogger,
  createMemoryRegistry,
  createMemoryStore,
  createService,
  loadPlugin,
} from '@micro-ts/core'
import type { BenchPublisher, BenchSubscriber, PubSubConfig } from './types.js'

async function service(name: string, config: PubSubConfig) {
  const logger = createLogger('warn')
  return createService({
    name,
    address: '127.0.0.1:0',
    registry: createMemoryRegistry(),
    broker: createNatsBroker({ addresses: [config.nats], logger }),
    transport: await loadPlugin('transport', 'http', { logger }),
    store: createMemoryStore(),
    logger,
  })
}

export async function publisher(config: PubSubConfig): Promise<BenchPublisher> {
  const svc = await service('bench.publisher', config)
  await svc.broker.connect()
  return {
    publish: (message) => svc.client.publish(config.topic, message),
    async close() {
      await svc.broker.disconnect()
      await svc.stop()
      await svc.transport.close()
    },
  }
}

export async function subscriber(
  config: PubSubConfig,
  onMessage: (message: unknown) => void,
): Promise<BenchSubscriber> {
  const svc = await service('bench.subscriber', config)
  svc.subscribe(config.topic, (message) => onMessage(message))
  await svc.start()
  return {
    async close() {
      await svc.stop()
      await svc.broker.disconnect()
      await svc.transport.close()
    },
  }
}
