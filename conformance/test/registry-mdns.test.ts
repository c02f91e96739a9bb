import { silentLogger } from '@micro-ts/core'
import { createPlugin } from '@micro-ts/core/plugin'
import { builtInDefinition, declaredCapabilities, registryConformance } from '../src/index.js'
import { needsPrivateNamespace } from './netns.js'

const plugin = builtInDefinition('registry', 'mdns')
// One port per run: instances of this file see each other, other mDNS tests running beside it do not.
const port = 40_000 + Math.floor(Math.random() * 10_000)

registryConformance({
  name: 'mdns',
  create: () => createPlugin(plugin, { options: { port }, env: {}, logger: silentLogger }),
  capabilities: declaredCapabilities(plugin),
  skip: needsPrivateNamespace(),
})
