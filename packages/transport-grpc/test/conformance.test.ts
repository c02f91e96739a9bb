import {
  declaredCapabilities,
  pluginDefinitionConformance,
  transportConformance,
} from '@micro-ts/conformance'
import plugin, { createGrpcTransport } from '../src/index.js'

// Its options from code and from every variable, and its capability names.
pluginDefinitionConformance(plugin)

transportConformance({
  name: 'grpc',
  create: () => createGrpcTransport(),
  // Declared once, on the plugin definition.
  capabilities: declaredCapabilities(plugin),
})
