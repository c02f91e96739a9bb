import { createMemoryBroker, silentLogger } from '@micro-ts/core'
import { brokerConformance } from '../src/index.js'

brokerConformance({
  name: 'memory',
  create: () => createMemoryBroker({ logger: silentLogger }),
  capabilities: ['queue', 'ordered'],
})
