import { silentLogger } from '@micro-ts/core'
import { createPlugin } from '@micro-ts/core/plugin'
import { brokerConformance, builtInDefinition, declaredCapabilities } from '../src/index.js'

const plugin = builtInDefinition('broker', 'memory')

brokerConformance({
  name: 'memory',
  create: () => createPlugin(plugin, { env: {}, logger: silentLogger }),
  capabilities: declaredCapabilities(plugin),
})
