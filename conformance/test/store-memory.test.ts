import { createMemoryStore } from '@micro-ts/core'
import { BUILT_IN_CAPABILITIES, storeConformance } from '../src/index.js'

storeConformance({
  name: 'memory',
  create: () => createMemoryStore(),
  capabilities: BUILT_IN_CAPABILITIES.store.memory,
})
