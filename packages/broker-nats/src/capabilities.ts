/**
 * What the broker can do, as the conformance suite names it. The plugin definition declares the
 * core NATS set (its default mode); JetStream mode adds acknowledgements with redelivery (`ack`)
 * and storage for a queue group while no member listens (`persistent`).
 */
export type NatsCapability = 'queue' | 'ordered' | 'shared' | 'ack' | 'persistent'

export const CORE_CAPABILITIES: readonly NatsCapability[] = Object.freeze(['queue', 'ordered', 'shared'])

/** The capabilities in JetStream mode (`jetstream: true`). */
export const JETSTREAM_CAPABILITIES: readonly NatsCapability[] = Object.freeze([
  ...CORE_CAPABILITIES,
  'ack',
  'persistent',
])
