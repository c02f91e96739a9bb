import { createMemoryRegistry, silentLogger } from '@micro-ts/core'
import { createPlugin } from '@micro-ts/core/plugin'
import { brokerConformance, builtInDefinition, declaredCapabilities } from '../src/index.js'

const plugin = builtInDefinition('broker', 'http')
// The HTTP broker finds subscribers through a registry: every instance of this file shares one,
// as brokers of one deployment share theirs.
const registry = createMemoryRegistry()

brokerConformance({
  name: 'http',
  create: () => createPlugin(plugin, { registry, addresses: ['127.0.0.1:0'], env: {}, logger: silentLogger }),
  capabilities: declaredCapabilities(plugin),
})
