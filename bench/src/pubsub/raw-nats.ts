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
import type { BenchPublisher, BenchSubscriber, PubSubConfig, PubSubModule } from './types.js'

/** How a raw contender puts a message on the wire and reads it back. */
export interface WireFormat {
  encode(message: unknown, config: PubSubConfig): Uint8Array
  decode(data: Uint8Array): unknown
}

/** A contender on the plain `nats` client; only the wire format differs between them. */
export function rawNatsModule(format: WireFormat): PubSubModule {
  return {
    async publisher(config: PubSubConfig): Promise<BenchPublisher> {
      const nc = await connect({ servers: config.nats })
      return {
        publish(message) {
          nc.publish(config.topic, format.encode(message, config))
        },
        async close() {
          await nc.drain()
        },
      }
    },
    async subscriber(config: PubSubConfig, onMessage: (message: unknown) => void): Promise<BenchSubscriber> {
      const nc = await connect({ servers: config.nats })
      nc.subscribe(config.topic, {
        callback: (err, msg) => {
          if (!err) onMessage(format.decode(msg.data))
        },
      })
      await nc.flush()
      return {
        async close() {
          await nc.drain()
        },
      }
    },
  }
}

const decoder = new TextDecoder()

export const { publisher, subscriber } = rawNatsModule({
  encode: (message) => Buffer.from(JSON.stringify(message)),
  decode: (data) => JSON.parse(decoder.decode(data)),
})
