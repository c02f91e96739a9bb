/**
 * @micro-ts/broker-rabbitmq — a RabbitMQ broker for Micro for TypeScript (`MICRO_BROKER=rabbitmq`),
 * in go-micro's layout so go-micro's rabbitmq broker interoperates.
 */
import { definePlugin } from '@micro-ts/core/plugin'
import { createRabbitMQBroker } from './broker.js'
import { rabbitmqBrokerOptions } from './options.js'

export { createRabbitMQBroker, RabbitMQBroker } from './broker.js'
export {
  DEFAULT_ADDRESS,
  DEFAULT_EXCHANGE,
  DEFAULT_MAX_MESSAGE_SIZE,
  type RabbitMQBrokerOptions,
  type ResolvedRabbitMQOptions,
  rabbitmqBrokerOptions,
} from './options.js'
export { DELIVERIES_HEADER, ERROR_HEADER, TOPIC_HEADER } from './redelivery.js'
export type { RabbitEvent } from './subscription.js'

/**
 * `MICRO_BROKER=rabbitmq`, address from `MICRO_BROKER_ADDRESS` (the first one; go-micro uses one
 * too), every option also from `MICRO_BROKER_RABBITMQ_<OPTION>`.
 */
export default definePlugin({
  kind: 'broker',
  name: 'rabbitmq',
  options: rabbitmqBrokerOptions,
  // What the conformance suite (and micro-conformance) tests: queue groups, `ack` (bounded
  // redelivery), `persistent` (a group's durable queue keeps messages while it has no member)
  // and `shared`; the rest is asserted absent.
  capabilities: ['queue', 'ack', 'persistent', 'shared'],
  create: ({ addresses, options, logger }) => {
    if (addresses.length > 1) {
      logger.warn(
        { addresses: addresses.length },
        'rabbitmq broker: several addresses given; using the first',
      )
    }
    return createRabbitMQBroker({ ...options, address: addresses[0] ?? options.address, logger })
  },
})
