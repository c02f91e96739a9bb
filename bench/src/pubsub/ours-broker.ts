/**
 * Our NATS broker alone, below the client and server: `broker.publish(topic, {headers, body})`
 * and `broker.subscribe(...)` with JSON encoded and decoded by hand. The gap between this and
 * `ours` is what the client/server layers (codec, headers, subscriber dispatch) cost.
 */
import { createNatsBroker } from '@micro-ts/broker-nats'
import { createLogger } from '@micro-ts/core'
import type { BenchPublisher, BenchSubscriber, PubSubConfig } from './types.js'

const headers = { 'Content-Type': 'application/json' }

export async function publisher(config: PubSubConfig): Promise<BenchPublisher> {
  const broker = createNatsBroker({ addresses: [config.nats], logger: createLogger('warn') })
  await broker.connect()
  return {
    publish: (message) =>
      broker.publish(config.topic, { headers, body: Buffer.from(JSON.stringify(message)) }),
    close: () => broker.disconnect(),
  }
}

export async function subscriber(
  config: PubSubConfig,
  onMessage: (message: unknown) => void,
): Promise<BenchSubscriber> {
  const broker = createNatsBroker({ addresses: [config.nats], logger: createLogger('warn') })
  await broker.connect()
  const decoder = new TextDecoder()
  await broker.subscribe(config.topic, (event) => onMessage(JSON.parse(decoder.decode(event.message.body))))
  return { close: () => broker.disconnect() }
}
