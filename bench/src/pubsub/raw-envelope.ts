/**
 * The `nats` client carrying what ours carries: go-micro's envelope (`{"Header":…,"Body":"<base64>"}`
 * with the same three headers `client.publish` sets) encoded and decoded by hand. Between this and
 * `raw-nats` is the price of the wire format itself (bigger messages for the NATS server and both
 * clients, base64, a second JSON pass); between this and `ours` is the price of our code.
 */
import { randomUUID } from 'node:crypto'
import { connect } from 'nats'
import type { BenchPublisher, BenchSubscriber, PubSubConfig } from './types.js'

export async function publisher(config: PubSubConfig): Promise<BenchPublisher> {
  const nc = await connect({ servers: config.nats })
  return {
    publish(message) {
      const Header = {
        'Content-Type': 'application/json',
        'Micro-Topic': config.topic,
        'Micro-Id': randomUUID(),
      }
      const Body = Buffer.from(JSON.stringify(message)).toString('base64')
      nc.publish(config.topic, Buffer.from(JSON.stringify({ Header, Body })))
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
      if (err) return
      const envelope = JSON.parse(decoder.decode(msg.data)) as { Body: string }
      onMessage(JSON.parse(Buffer.from(envelope.Body, 'base64').toString('utf8')))
    },
  })
  await nc.flush()
  return {
    async close() {
      await nc.drain()
    },
  }
}
