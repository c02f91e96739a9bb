/**
 * The `nats` client carrying what ours carries: go-micro's envelope (`{"Header":…,"Body":"<base64>"}`
 * with the same three headers `client.publish` sets) encoded and decoded by hand. Between this and
 * `raw-nats` is the price of the wire format itself (bigger messages for the NATS server and both
 * clients, base64, a second JSON pass); between this and `ours` is the price of our code.
 */
import { randomUUID } from 'node:crypto'
import { rawNatsModule } from './raw-nats.js'

const decoder = new TextDecoder()

export const { publisher, subscriber } = rawNatsModule({
  encode(message, config) {
    const Header = {
      'Content-Type': 'application/json',
      'Micro-Topic': config.topic,
      'Micro-Id': randomUUID(),
    }
    const Body = Buffer.from(JSON.stringify(message)).toString('base64')
    return Buffer.from(JSON.stringify({ Header, Body }))
  },
  decode(data) {
    const envelope = JSON.parse(decoder.decode(data)) as { Body: string }
    return JSON.parse(Buffer.from(envelope.Body, 'base64').toString('utf8'))
  },
})
