import { randomUUID } from 'node:crypto'
import { brokerConformance } from '@micro-ts/conformance'
import { silentLogger } from '@micro-ts/core'
import { connect } from 'nats'
import { afterAll } from 'vitest'
import { createNatsBroker } from '../src/index.js'
import { canConnect, SHARED_ADDRESS } from './nats-server.js'

const up = await canConnect(SHARED_ADDRESS)
const skip = up ? false : `NATS at ${SHARED_ADDRESS} is unreachable`
// go-micro's JSON envelope carries the body in base64 (4/3 larger): this fits NATS' default 1 MB max_payload.
const largeMessageSize = 512 * 1024

brokerConformance({
  name: 'nats',
  create: () => createNatsBroker({ addresses: [SHARED_ADDRESS], logger: silentLogger }),
  // Core NATS keeps a publisher's order and has no acknowledgements or storage.
  capabilities: ['queue', 'ordered', 'shared'],
  options: { largeMessageSize },
  skip,
})

// Streams of this run carry their own prefix and are deleted afterwards.
const streamPrefix = `CONF_${randomUUID().slice(0, 8)}`

brokerConformance({
  name: 'nats (JetStream)',
  create: () =>
    createNatsBroker({
      addresses: [SHARED_ADDRESS],
      logger: silentLogger,
      jetstream: { streamPrefix, nakDelay: 50 },
    }),
  capabilities: ['queue', 'ack', 'ordered', 'persistent', 'shared'],
  options: { largeMessageSize },
  skip,
})

afterAll(async () => {
  if (!up) return
  const nc = await connect({ servers: SHARED_ADDRESS })
  const jsm = await nc.jetstreamManager()
  for await (const s of jsm.streams.list()) {
    if (s.config.name.startsWith(`${streamPrefix}_`)) await jsm.streams.delete(s.config.name)
  }
  await nc.close()
})
