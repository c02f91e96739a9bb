/** The raw limit: the `nats` client itself, JSON payloads encoded and decoded by hand, no envelope. */
import { connect } from 'nats'
import type { BenchPublisher, BenchSubscriber, PubSubConfig } from './types.js'

export async function publisher(config: PubSubConfig): Promise<BenchPublisher> {
  const nc = await connect({ servers: config.nats })
  return {
    publish(message) {
      nc.publish(config.topic, Buffer.from(JSON.stringify(message)))
    },
    async close() {
      await nc.drain()
    },
  }
}

export async function subscriber(
  config: PubSubConfig,
  onMessage: (message: unknown) => void,
): Promise<BenchSubscriber> {
  const nc = await connect({ servers: config.nats })
  const decoder = new TextDecoder()
  nc.subscribe(config.topic, {
    callback: (err, msg) => {
      if (!err) onMessage(JSON.parse(decoder.decode(msg.data)))
    },
  })
  await nc.flush()
  return {
    async close() {
      await nc.drain()
    },
  }
}
