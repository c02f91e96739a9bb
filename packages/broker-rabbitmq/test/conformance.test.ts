import { brokerConformance, declaredCapabilities, pluginDefinitionConformance } from '@micro-ts/conformance'
import { probeBackend, RUN_ID } from '@micro-ts/conformance/testing'
import { rabbitmqctl } from '@micro-ts/conformance/testing/rabbitmq'
import { silentLogger } from '@micro-ts/core'
import { afterAll } from 'vitest'
import plugin, { createRabbitMQBroker, type RabbitMQBrokerOptions } from '../src/index.js'
import { resolveOptions } from '../src/options.js'
import { ADDRESS, deleteQueues, ping } from './helpers.js'

const skip = await probeBackend(`RabbitMQ at ${ADDRESS}`, () => ping())

// Its options from code and from every variable, and its capability names, without RabbitMQ.
pluginDefinitionConformance(plugin)

const options: RabbitMQBrokerOptions = { address: ADDRESS, logger: silentLogger, redeliveryWait: 20 }

brokerConformance({
  name: 'rabbitmq',
  create: () => createRabbitMQBroker(options),
  // The definition's: queue groups, bounded redelivery, durable group queues, one server.
  capabilities: declaredCapabilities(plugin),
  // Poison messages are held to the broker's own bound (maxDeliveries, 5 by default).
  options: { maxDeliveries: resolveOptions(options).maxDeliveries },
  skip,
})

// The suite's queue groups are durable queues named after the group, with this run's prefix
// (their retry queues too): delete them afterwards (listing queues needs rabbitmqctl, so only
// against a local server).
afterAll(async () => {
  if (skip) return
  let names: string[]
  try {
    names = (await rabbitmqctl(['list_queues', '-q', '--no-table-headers', 'name']))
      .split('\n')
      .map((line) => line.trim())
      .filter((name) => name.startsWith(`mc-${RUN_ID}-`))
  } catch {
    return
  }
  await deleteQueues(names)
})
