/**
 * The raw limit: the `nats` client itself, JSON payloads encoded and decoded by hand, no envelope.
 *
 * What is the same as ours: the payload object, the publisher loop (each publish awaited, so
 * nats.js writes each message to the socket on its own, as it does for ours), the credit window,
 * and a callback subscription. What ours does on top, and is measured for: go-micro's wire format
 * (a JSON envelope with Content-Type, Micro-Topic and Micro-Id headers and the body in base64),
 * and for `ours-nats` the client/server layers (codec lookup, header handling, subscriber
 * dispatch). Core NATS on both sides: nothing is acknowledged, nothing awaits a server flush.
 */
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
