import { brokerConformance } from '@micro-ts/conformance'
import { silentLogger } from '@micro-ts/core'
import { afterAll, beforeAll } from 'vitest'
import { CAPABILITIES, createRabbitMQBroker } from '../src/index.js'
import { ADDRESS, deleteQueues, serverReachable } from './helpers.js'

// The suite's queue groups are durable queues named after the group: start and end without them,
// so messages or bindings of an earlier run never reach this one.
const GROUPS = ['workers', 'a', 'b', 'durable', 'q']
const up = await serverReachable()

beforeAll(async () => {
  if (up) await deleteQueues(GROUPS)
})
afterAll(async () => {
  if (up) await deleteQueues(GROUPS)
})

brokerConformance({
  name: 'rabbitmq',
  create: () => createRabbitMQBroker({ address: ADDRESS, logger: silentLogger }),
  capabilities: ['queue', 'persistent', 'shared', ...CAPABILITIES],
  skip: up ? false : `RabbitMQ at ${ADDRESS} is unreachable`,
})
