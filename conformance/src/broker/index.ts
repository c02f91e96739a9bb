/**
 * The broker suite: go-micro's broker tests (headers and body equality, concurrent publishers
 * and subscribers) plus queue groups, isolation, volume, size, errors and the optional
 * delivery guarantees (Dapr's pub/sub checklist). One file per capability group; this one
 * wires them together.
 */
import type { Broker } from '@micro-ts/core'
import { defineSuite } from '../suite.js'
import type { CommonOptions, SuiteSpec } from '../types.js'
import { brokerAck } from './ack.js'
import { brokerBasics } from './basics.js'
import { brokerContext } from './context.js'
import { brokerCopies } from './copies.js'
import { brokerDelivery } from './delivery.js'
import { brokerOrdering } from './ordering.js'
import { brokerPersistent } from './persistent.js'
import { brokerPoison } from './poison.js'
import { brokerQueue } from './queue.js'
import { brokerReconnect } from './reconnect.js'
import { brokerShared } from './shared.js'

/**
 * - `queue`: queue groups (each message to exactly one member of a group; each group gets a
 *   copy). Every official broker has it. Absent: `subscribe(..., {queue})` rejects with a
 *   MicroError instead of silently broadcasting.
 * - `ack`: a handler that throws, or `nack()`, gets the message redelivered; `ack()` with
 *   `autoAck: false` settles it, also after the handler returned. Poison messages: a message
 *   whose handler keeps failing is redelivered at most `maxDeliveries` times in all, each
 *   redelivery at least `minRedeliveryDelay` after the last (back-off), then dead-lettered or
 *   dropped; the other messages keep flowing meanwhile, however many fail. Absent: a message is
 *   handed to a handler once, whatever the handler does.
 * - `ordered`: messages from one publisher (each `publish()` awaited) arrive in publish order.
 *   Absent: nothing is checked (a broker may happen to keep order).
 * - `persistent`: a queue group keeps the messages published while it has no member and hands
 *   them to the next member that joins. Absent: such messages are not delivered later.
 * - `shared`: instances from `create()` reach each other (one publishes, another's subscribers
 *   receive). Absent: they do not.
 */
export type BrokerCapability = 'queue' | 'ack' | 'ordered' | 'persistent' | 'shared'
export const BROKER_CAPABILITIES: readonly BrokerCapability[] = [
  'queue',
  'ack',
  'ordered',
  'persistent',
  'shared',
]

export interface BrokerConformanceOptions extends CommonOptions {
  /** How long a published message may take to reach a subscriber, ms (default 5 000). */
  deliveryTimeout?: number
  /**
   * How long the suite waits to be sure that nothing more arrives (no duplicate, no
   * redelivery, nothing on an unsubscribed handler), ms (default 500). Raise it for brokers
   * whose redelivery is slower than that, or the absent-`ack` case cannot see it.
   */
  quietPeriod?: number
  /** Pause after `subscribe()` before publishing, for brokers whose subscriptions go live asynchronously, ms (default 0). */
  subscribeSettle?: number
  /** Size of the large-message case, bytes (default 1 MiB; NATS' default max_payload is 1 MB). */
  largeMessageSize?: number
  /** Messages in the volume case (default 1 000). */
  messageCount?: number
  /** `ack`: the most deliveries of a message whose handler keeps failing (default 10): the broker's own bound or less. */
  maxDeliveries?: number
  /** `ack`: the least time between two deliveries of a failing message, ms (default 10: no hot loop). */
  minRedeliveryDelay?: number
  /** `ack`: how long after publishing the broker may still redeliver a failing message, ms (default 30 000). */
  giveUpTimeout?: number
  /** `ack`: failing messages in the many-poison-messages case, more than a prefetch window (default 40). */
  poisonCount?: number
}

export type BrokerConformanceSpec = SuiteSpec<Broker, BrokerCapability, BrokerConformanceOptions>

/** Register the broker conformance suite for one broker implementation. */
export function brokerConformance(spec: BrokerConformanceSpec): void {
  defineSuite('broker', spec, BROKER_CAPABILITIES, () => {
    const t = brokerContext(spec)
    brokerBasics(t)
    brokerDelivery(t)
    brokerCopies(t)
    brokerReconnect(t)
    brokerQueue(t)
    brokerAck(t)
    brokerPoison(t)
    brokerOrdering(t)
    brokerPersistent(t)
    brokerShared(t)
  })
}
