import { brokerConformance, declaredCapabilities } from '@micro-ts/conformance'
import { probeBackend, RUN_ID } from '@micro-ts/conformance/testing'
import { silentLogger } from '@micro-ts/core'
import { connect } from 'nats'
import { afterAll } from 'vitest'
import plugin, { createNatsBroker } from '../src/index.js'
import { SHARED_ADDRESS } from './helpers.js'

const skip = await probeBackend(`NATS at ${SHARED_ADDRESS}`, async () => {
  const nc = await connect({ servers: SHARED_ADDRESS, timeout: 2000, reconnect: false })
  await nc.close()
})
// go-micro's JSON envelope carries the body in base64 (4/3 larger): this fits NATS' default 1 MB max_payload.
const largeMessageSize = 512 * 1024

brokerConformance({
  name: 'nats',
  create: () => createNatsBroker({ addresses: [SHARED_ADDRESS], logger: silentLogger }),
  // The definition's: core NATS keeps a publisher's order and has no acknowledgements or storage.
  capabilities: declaredCapabilities(plugin),
  options: { largeMessageSize },
  skip,
})

// Streams of this run carry their own prefix and are deleted afterwards.
const streamPrefix = `CONF_${RUN_ID}`

brokerConformance({
  name: 'nats (JetStream)',
  create: () =>
    createNatsBroker({
      addresses: [SHARED_ADDRESS],
      logger: silentLogger,
      jetstream: { streamPrefix, nakDelay: 50 },
    }),
  capabilities: declaredCapabilities(plugin, { jetstream: true }),
  // Poison messages: the default jetstream.maxDeliver (5), and the nak delay less its 20% jitter.
  options: { largeMessageSize, maxDeliveries: 5, minRedeliveryDelay: 40 },
  skip,
})

afterAll(async () => {
  if (skip) return
  const nc = await connect({ servers: SHARED_ADDRESS })
  const jsm = await nc.jetstreamManager()
  for await (const s of jsm.streams.list()) {
    if (s.config.name.startsWith(`${streamPrefix}_`)) await jsm.streams.delete(s.config.name)
  }
  await nc.close()
})
