/**
 * @micro-ts/broker-nats — pub/sub over NATS, wire-compatible with go-micro's NATS broker, with an
 * opt-in JetStream mode for durable, acknowledged delivery. Select it with `MICRO_BROKER=nats`.
 */
import { definePlugin, MicroError } from '@micro-ts/core'
import { createNatsBroker } from './nats.js'
import { ERROR_ID, type NatsBrokerOptions } from './options.js'

export { createNatsBroker, NatsBroker, type NatsCapability } from './nats.js'
export type { JetStreamOptions, NatsBrokerOptions, NatsTlsOptions } from './options.js'

/** Options the plugin loader may pass (`--options` of the conformance runner, or code). */
const OPTION_KEYS = [
  'user',
  'pass',
  'token',
  'connectTimeout',
  'reconnectWait',
  'name',
  'tls',
  'jetstream',
] as const

export default definePlugin({
  kind: 'broker',
  name: 'nats',
  create({ addresses, options, logger }) {
    const unknown = Object.keys(options).filter((k) => !(OPTION_KEYS as readonly string[]).includes(k))
    if (unknown.length > 0) {
      throw new MicroError(
        ERROR_ID,
        400,
        `nats broker: unknown option(s) ${unknown.join(', ')}; accepted: ${OPTION_KEYS.join(', ')}`,
      )
    }
    const opts = { ...(options as NatsBrokerOptions), addresses, logger }
    // Environment-only selection of JetStream mode: MICRO_NATS_JETSTREAM=true.
    if (opts.jetstream === undefined && /^(1|true|yes|on)$/i.test(process.env.MICRO_NATS_JETSTREAM ?? '')) {
      opts.jetstream = true
    }
    return createNatsBroker(opts)
  },
})
