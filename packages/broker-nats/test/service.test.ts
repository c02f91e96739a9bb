/**
 * `MICRO_BROKER=nats` end to end: core's plugin loader resolves this package by its short name,
 * a service subscribes, another publishes through its client, and the event carries go-micro's
 * envelope on the wire.
 */
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { createService, loadPlugin, silentLogger } from '@micro-ts/core'
import { connect } from 'nats'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  canConnect,
  eventually,
  hasNatsServer,
  NatsServer,
  requireBackend,
  SHARED_ADDRESS,
} from './nats-server.js'

const up = requireBackend(await canConnect(SHARED_ADDRESS), `NATS is not reachable at ${SHARED_ADDRESS}`)
const binary = requireBackend(hasNatsServer(), 'the nats-server binary is not installed')

describe.skipIf(!up)('MICRO_BROKER=nats through the plugin loader', () => {
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
    const topic = `t${randomUUID().slice(0, 8)}.events`
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
      await eventually(async () => got.length === 1 && wire.length === 1)
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

describe.skipIf(!binary)('services on NATS JetStream while the server is killed and restarted', () => {
  let server: NatsServer
  let cwd: string
  beforeAll(async () => {
    cwd = process.cwd()
    process.chdir(fileURLToPath(new URL('..', import.meta.url)))
    server = await NatsServer.start()
    process.env.MICRO_NATS_JETSTREAM = 'true'
  })
  afterAll(async () => {
    delete process.env.MICRO_NATS_JETSTREAM
    process.chdir(cwd)
    await server?.stop()
  })

  it('every event whose publish resolved reaches the subscriber service', async () => {
    const env = {
      MICRO_REGISTRY: 'memory',
      MICRO_BROKER: 'nats',
      MICRO_BROKER_ADDRESS: server.address,
      MICRO_STORE: 'memory',
      MICRO_SERVER_ADDRESS: '127.0.0.1:0',
    }
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
      await eventually(async () => acknowledged.length >= 20)
      await server.restart(800)
      await loop
      expect(acknowledged.length).toBeGreaterThan(20)
      await eventually(async () => acknowledged.every((n) => received.has(n)), 30_000)
    } finally {
      await publisher.stop()
      await subscriber.stop()
    }
  })
})
