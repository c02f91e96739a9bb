import { createHttpBroker, createMemoryRegistry, silentLogger } from '@micro-ts/core'
import { BUILT_IN_CAPABILITIES, brokerConformance } from '../src/index.js'

// The HTTP broker finds subscribers through a registry: every instance of this file shares one,
// as brokers of one deployment share theirs.
const registry = createMemoryRegistry()

brokerConformance({
  name: 'http',
  create: () => createHttpBroker({ registry, address: '127.0.0.1:0', logger: silentLogger }),
  capabilities: BUILT_IN_CAPABILITIES.broker.http,
})
