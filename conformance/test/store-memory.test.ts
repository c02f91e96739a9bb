import { silentLogger } from '@micro-ts/core'
import { createPlugin } from '@micro-ts/core/plugin'
import { builtInDefinition, declaredCapabilities, storeConformance } from '../src/index.js'

const plugin = builtInDefinition('store', 'memory')

storeConformance({
  name: 'memory',
  create: () => createPlugin(plugin, { env: {}, logger: silentLogger }),
  capabilities: declaredCapabilities(plugin),
})
