import { brokerConformance, declaredCapabilities, pluginDefinitionConformance } from '@micro-ts/conformance'
import { probeBackend, RUN_ID } from '@micro-ts/conformance/testing'
import { silentLogger } from '@micro-ts/core'
import { connect } from 'nats'
import { afterAll } from 'vitest'
import plugin, { createNatsBroker, type NatsBrokerOptions } from '../src/index.js'
import { resolveOptions } from '../src/options.js'
import { SHARED_ADDRESS } from './helpers.js'

const skip = await probeBackend(`NATS at ${SHARED_ADDRESS}`, async () => {
  const nc = await connect({ servers: SHARED_ADDRESS, timeout: 2000, reconnect: false })
  await nc.close()
})
// go-micro's JSON envelope carries the body in base64 (4/3 larger): this fits NATS' default 1 MB max_payload.
const largeMessageSize = 512 * 1024

// Its options from code and from every variable, and its capability names in both modes, without NATS.
pluginDefinitionConformance(plugin)

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

const jetstream: NatsBrokerOptions = {
  addresses: [SHARED_ADDRESS],
  logger: silentLogger,
  jetstream: { streamPrefix, nakDelay: 50 },
}
const bound = resolveOptions(jetstream).jetstream!

brokerConformance({
  name: 'nats (JetStream)',
  create: () => createNatsBroker(jetstream),
  capabilities: declaredCapabilities(plugin, { jetstream: true }),
  // Poison messages are held to the broker's own bound (jetstream.maxDeliver, 5 by default), each
  // redelivery at least the nak delay less its 20% jitter.
  options: { largeMessageSize, maxDeliveries: bound.maxDeliver, minRedeliveryDelay: bound.nakDelay * 0.8 },
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
