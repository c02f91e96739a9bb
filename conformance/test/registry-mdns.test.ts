import { createMdnsRegistry, silentLogger } from '@micro-ts/core'
import { BUILT_IN_CAPABILITIES, registryConformance } from '../src/index.js'
import { needsPrivateNamespace } from './netns.js'

// One port per run: instances of this file see each other, other mDNS tests running beside it do not.
const port = 40_000 + Math.floor(Math.random() * 10_000)

registryConformance({
  name: 'mdns',
  create: () => createMdnsRegistry({ port, logger: silentLogger }),
  capabilities: BUILT_IN_CAPABILITIES.registry.mdns,
  skip: needsPrivateNamespace(),
})
