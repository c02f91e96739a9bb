/**
 * What the broker can do, as the conformance suite names it. The plugin definition declares the
 * core NATS set, always there, and JetStream mode's additions: acknowledgements with redelivery
 * (`ack`) and storage for a queue group while no member listens (`persistent`).
 */
export type NatsCapability = 'queue' | 'ordered' | 'shared' | 'ack' | 'persistent'

export const CORE_CAPABILITIES: readonly NatsCapability[] = Object.freeze(['queue', 'ordered', 'shared'])

const JETSTREAM_EXTRAS: readonly NatsCapability[] = Object.freeze(['ack', 'persistent'])

/** What the mode adds to {@link CORE_CAPABILITIES} (the definition's `modeCapabilities`). */
export function modeCapabilities(options: { jetstream?: boolean }): readonly NatsCapability[] {
  return options.jetstream ? JETSTREAM_EXTRAS : []
}

/** The capabilities in JetStream mode (`jetstream: true`). */
export const JETSTREAM_CAPABILITIES: readonly NatsCapability[] = Object.freeze([
  ...CORE_CAPABILITIES,
  ...modeCapabilities({ jetstream: true }),
])
