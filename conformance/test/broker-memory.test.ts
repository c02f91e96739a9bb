import { createMemoryBroker, silentLogger } from '@micro-ts/core'
import { BUILT_IN_CAPABILITIES, brokerConformance } from '../src/index.js'

brokerConformance({
  name: 'memory',
  create: () => createMemoryBroker({ logger: silentLogger }),
  capabilities: BUILT_IN_CAPABILITIES.broker.memory,
})
