/**
 * `MICRO_BROKER=nats` end to end: core's plugin loader resolves this package by its short name,
 * a service subscribes, another publishes through its client, and the event carries go-micro's
 * envelope on the wire.
 */
import { fileURLToPath } from 'node:url'
import { eventually, recordingLogger, requireThat, uniqueName } from '@micro-ts/conformance/testing'
import { NatsServer } from '@micro-ts/conformance/testing/nats'
import { createService, loadPlugin, silentLogger } from '@micro-ts/core'
import { connect } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SHARED_ADDRESS, sharedNats } from './helpers.js'

const up = await sharedNats()
const binary = requireThat(
  NatsServer.available(),
  'the nats-server binary is not installed (scripts/backends.sh nats)',
)

describe.runIf(up)('MICRO_BROKER=nats through the plugin loader', () => {
  // The loader resolves plugins from the application's directory: here, this package.
  let cwd: string
  beforeAll(() => {
    cwd = process.cwd()
    process.chdir(fileURLToPath(new URL('..', import.meta.url)))
  })
  afterAll(() => process.chdir(cwd))

  const env = {
    MICRO_REGISTRY: 'memory',
    MICRO_BROKER: 'nats',
    MICRO_BROKER_ADDRESS: `nats://${SHARED_ADDRESS}`,
    MICRO_STORE: 'memory',
    MICRO_SERVER_ADDRESS: '127.0.0.1:0',
  }

  it('loadPlugin("broker", "nats") gives this package’s broker', async () => {
    const broker = await loadPlugin('broker', 'nats', { addresses: [SHARED_ADDRESS] })
    expect(broker.name).toBe('nats')
  })

  it('a subscriber service receives what a client publishes, as go-micro JSON on the wire', async () => {
    const topic = `${uniqueName('t')}.events`
    const got: { name: string }[] = []
    const subscriber = await createService({ name: 'test.nats.subscriber', env, logger: silentLogger })
    subscriber.subscribe<{ name: string }>(topic, (ev) => void got.push(ev), { queue: 'test' })
    await subscriber.start()
    const raw = await connect({ servers: SHARED_ADDRESS })
    const wire: string[] = []
    const rawSub = raw.subscribe(topic)
    ;(async () => {
      for await (const m of rawSub) wire.push(m.string())
    })()
    await raw.flush()
    const publisher = await createService({ name: 'test.nats.publisher', env, logger: silentLogger })
    try {
      await publisher.client.publish(topic, { name: 'event' })
      await eventually(() => expect([got.length, wire.length]).toEqual([1, 1]), 10_000)
      expect(got).toEqual([{ name: 'event' }])
      const envelope = JSON.parse(wire[0]) as { Header: Record<string, string>; Body: string }
      expect(envelope.Header['Micro-Topic']).toBe(topic)
      expect(envelope.Header['Content-Type']).toBe('application/json')
      expect(JSON.parse(Buffer.from(envelope.Body, 'base64').toString())).toEqual({ name: 'event' })
    } finally {
      await publisher.stop()
      await subscriber.stop()
      await raw.close()
    }
  })
})

describe.runIf(binary)('services on NATS JetStream (a private server)', () => {
  let server: NatsServer
  let cwd: string
  beforeAll(async () => {
    cwd = process.cwd()
    process.chdir(fileURLToPath(new URL('..', import.meta.url)))
    server = await NatsServer.start()
  })
  afterAll(async () => {
    process.chdir(cwd)
    await server?.stop()
  })
  /** A service's environment: JetStream on the private server, memory for the rest. */
  const jetStreamEnv = (extra: Record<string, string> = {}) => ({
    MICRO_REGISTRY: 'memory',
    MICRO_BROKER: 'nats',
    MICRO_BROKER_ADDRESS: server.address,
    MICRO_NATS_JETSTREAM: 'true',
    MICRO_STORE: 'memory',
    MICRO_SERVER_ADDRESS: '127.0.0.1:0',
    ...extra,
  })

  it('every event whose publish resolved reaches the subscriber service', async () => {
    const env = jetStreamEnv()
    const received = new Set<number>()
    const subscriber = await createService({ name: 'test.js.subscriber', env, logger: silentLogger })
    subscriber.subscribe<{ n: number }>('greetings.sent', (ev) => void received.add(ev.n), {
      queue: 'counter',
    })
    await subscriber.start()
    const publisher = await createService({ name: 'test.js.publisher', env, logger: silentLogger })
    const acknowledged: number[] = []
    try {
      const loop = (async () => {
        for (let n = 0; n < 80; n++) {
          try {
            await publisher.client.publish('greetings.sent', { n })
            acknowledged.push(n)
          } catch {
            // not acknowledged: the caller knows it was not stored
          }
          await new Promise((r) => setTimeout(r, 20))
        }
      })()
      await eventually(() => expect(acknowledged.length).toBeGreaterThanOrEqual(20), 10_000)
      await server.restart(800)
      await loop
      expect(acknowledged.length).toBeGreaterThan(20)
      await eventually(() => expect(acknowledged.filter((n) => !received.has(n))).toEqual([]), 30_000)
    } finally {
      await publisher.stop()
      await subscriber.stop()
    }
  })

  it('a message the subscriber cannot decode is dropped after MICRO_BROKER_NATS_JETSTREAM_MAX_DELIVER deliveries; the rest flow', async () => {
    const env = jetStreamEnv({
      MICRO_BROKER_NATS_JETSTREAM_MAX_DELIVER: '2',
      MICRO_BROKER_NATS_JETSTREAM_NAK_DELAY: '20ms',
    })
    const log = recordingLogger()
    const topic = 'invoices.created'
    const received: number[] = []
    const subscriber = await createService({ name: 'test.js.poison', env, logger: log })
    subscriber.subscribe<{ n: number }>(topic, (ev) => void received.push(ev.n), { queue: 'billing' })
    await subscriber.start()
    const raw = await connect({ servers: server.address })
    try {
      const js = raw.jetstream()
      for (let n = 0; n < 20; n++) {
        // Bytes that are neither go-micro's envelope nor JSON: the service's JSON codec refuses them.
        if (n === 3) await js.publish(topic, Buffer.from('{not json'))
        await js.publish(topic, Buffer.from(JSON.stringify({ n })))
      }
      await eventually(() => expect(received).toHaveLength(20), 20_000)
      const dropped = () =>
        log.lines.filter((l) => l.level === 'error' && /dropped after 2 deliveries/.test(l.msg))
      await eventually(() => expect(dropped()).toHaveLength(1), 10_000)
      await new Promise((r) => setTimeout(r, 500))
      expect(dropped()).toHaveLength(1)
      expect(log.lines.filter((l) => l.msg === 'nats broker: handler failed')).toHaveLength(2)
    } finally {
      await raw.close()
      await subscriber.stop()
    }
  })
})
