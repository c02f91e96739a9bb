import { silentLogger } from '@micro-ts/core'
import { createPlugin } from '@micro-ts/core/plugin'
import { builtInDefinition, declaredCapabilities, registryConformance } from '../src/index.js'

// Through core's loader, as MICRO_REGISTRY=memory would make it; capabilities from its definition.
const plugin = builtInDefinition('registry', 'memory')

registryConformance({
  name: 'memory',
  create: () => createPlugin(plugin, { env: {}, logger: silentLogger }),
  capabilities: declaredCapabilities(plugin),
})
