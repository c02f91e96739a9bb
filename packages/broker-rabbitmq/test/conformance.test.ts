import { brokerConformance, RUN_ID } from '@micro-ts/conformance'
import { silentLogger } from '@micro-ts/core'
import { afterAll } from 'vitest'
import { CAPABILITIES, createRabbitMQBroker } from '../src/index.js'
import { ADDRESS, deleteQueues, probe, rabbitmqctl } from './helpers.js'

const skip = await probe()

brokerConformance({
  name: 'rabbitmq',
  create: () => createRabbitMQBroker({ address: ADDRESS, logger: silentLogger }),
  capabilities: CAPABILITIES,
  skip,
})

// The suite's queue groups are durable queues named after the group, with this run's prefix:
// delete them afterwards (listing queues needs rabbitmqctl, so only against a local server).
afterAll(async () => {
  if (skip) return
  let names: string[]
  try {
    names = rabbitmqctl('list_queues', '-q', '--no-table-headers', 'name')
      .split('\n')
      .map((line) => line.trim())
      .filter((name) => name.startsWith(`mc-${RUN_ID}-`))
  } catch {
    return
  }
  await deleteQueues(names)
})
