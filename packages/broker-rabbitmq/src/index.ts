/**
 * @micro-ts/broker-rabbitmq — a RabbitMQ broker for Micro for TypeScript (`MICRO_BROKER=rabbitmq`),
 * in go-micro's layout so go-micro's rabbitmq broker interoperates.
 */
import { definePlugin, type PluginContext } from '@micro-ts/core'
import { RabbitMQBroker } from './broker.js'
import type { RabbitMQBrokerOptions } from './options.js'

export { createRabbitMQBroker, RabbitMQBroker } from './broker.js'
export {
  BROKER_ERROR_ID,
  DEFAULT_ADDRESS,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_EXCHANGE,
  DEFAULT_HEARTBEAT,
  DEFAULT_PREFETCH,
  DEFAULT_PUBLISH_TIMEOUT,
  DEFAULT_RECONNECT_DELAY,
  DEFAULT_RECONNECT_MAX_DELAY,
  type RabbitMQBrokerOptions,
  type ResolvedRabbitMQOptions,
} from './options.js'

/**
 * What the conformance suite tests: queue groups, `ack` (ack, nack with requeue, redelivery),
 * `persistent` (a group's durable queue keeps messages while it has no member) and `shared`.
 */
export const CAPABILITIES = ['queue', 'ack', 'persistent', 'shared'] as const

const NUMERIC = [
  'prefetch',
  'connectTimeout',
  'publishTimeout',
  'heartbeat',
  'reconnectDelay',
  'reconnectMaxDelay',
] as const
const BOOLEAN = ['durableExchange', 'durableQueues', 'persistent'] as const

/** Options from the environment and the caller's `options` map (numbers and flags may arrive as strings). */
function fromContext(ctx: PluginContext): RabbitMQBrokerOptions {
  const o = ctx.options ?? {}
  if (ctx.addresses.length > 1) {
    ctx.logger.warn(
      { addresses: ctx.addresses.length },
      'rabbitmq broker: several addresses given; using the first',
    )
  }
  const options: RabbitMQBrokerOptions = {
    address: ctx.addresses[0] ?? (typeof o.address === 'string' ? o.address : undefined),
    logger: ctx.logger,
  }
  if (o.exchange !== undefined) options.exchange = o.exchange as string
  for (const name of NUMERIC) {
    const v = o[name]
    // A non-numeric value stays as is and is rejected with a clear 400 by the broker.
    if (v !== undefined) options[name] = (typeof v === 'string' && v.trim() !== '' ? Number(v) : v) as number
  }
  for (const name of BOOLEAN) {
    const v = o[name]
    if (v !== undefined) options[name] = (v === 'true' ? true : v === 'false' ? false : v) as boolean
  }
  return options
}

/**
 * `MICRO_BROKER=rabbitmq`, address from `MICRO_BROKER_ADDRESS` (the first one; go-micro uses one
 * too). `capabilities` tells the conformance runner what to test.
 */
export default definePlugin({
  kind: 'broker',
  name: 'rabbitmq',
  create: (ctx) => new RabbitMQBroker(fromContext(ctx)),
  capabilities: CAPABILITIES,
})
