import { silentLogger } from '@micro-ts/core'
import { createPlugin } from '@micro-ts/core/plugin'
import { builtInDefinition, declaredCapabilities, transportConformance } from '../src/index.js'

const plugin = builtInDefinition('transport', 'http')

transportConformance({
  name: 'http',
  create: () => createPlugin(plugin, { env: {}, logger: silentLogger }),
  capabilities: declaredCapabilities(plugin),
})
