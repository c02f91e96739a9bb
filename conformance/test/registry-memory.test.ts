import { createMemoryRegistry } from '@micro-ts/core'
import { BUILT_IN_CAPABILITIES, registryConformance } from '../src/index.js'

registryConformance({
  name: 'memory',
  create: () => createMemoryRegistry(),
  capabilities: BUILT_IN_CAPABILITIES.registry.memory,
})
