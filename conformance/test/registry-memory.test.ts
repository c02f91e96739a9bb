import { createMemoryRegistry } from '@micro-ts/core'
import { registryConformance } from '../src/index.js'

registryConformance({
  name: 'memory',
  create: () => createMemoryRegistry(),
  capabilities: ['ttl', 'watch'],
})
