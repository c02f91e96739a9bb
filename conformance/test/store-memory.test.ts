import { createMemoryStore } from '@micro-ts/core'
import { storeConformance } from '../src/index.js'

storeConformance({
  name: 'memory',
  create: () => createMemoryStore(),
  capabilities: ['ttl', 'metadata'],
})
