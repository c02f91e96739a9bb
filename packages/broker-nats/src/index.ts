/**
 * @micro-ts/broker-nats — pub/sub over NATS, wire-compatible with go-micro's NATS broker, with an
 * opt-in JetStream mode for stored, acknowledged delivery. Select it with `MICRO_BROKER=nats`.
 */
import { definePlugin } from '@micro-ts/core/plugin'
import { CORE_CAPABILITIES, modeCapabilities } from './capabilities.js'
import { createNatsBroker } from './nats.js'
import { natsBrokerOptions } from './options.js'

export { CORE_CAPABILITIES, JETSTREAM_CAPABILITIES, type NatsCapability } from './capabilities.js'
export { createNatsBroker, NatsBroker } from './nats.js'
export {
  type JetStreamOptions,
  type NatsBrokerOptions,
  type NatsTlsOptions,
  natsBrokerOptions,
} from './options.js'

export default definePlugin({
  kind: 'broker',
  name: 'nats',
  options: natsBrokerOptions,
  // Core NATS, always; JetStream mode adds ack and persistent.
  capabilities: CORE_CAPABILITIES,
  modeCapabilities,
  create: ({ addresses, options, logger }) => createNatsBroker({ ...options, addresses, logger }),
})
