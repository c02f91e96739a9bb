import { type TransportCapability, transportConformance } from '@micro-ts/conformance'
import plugin, { createGrpcTransport } from '../src/index.js'

transportConformance({
  name: 'grpc',
  create: () => createGrpcTransport(),
  // Declared once, on the plugin definition.
  capabilities: plugin.capabilities as readonly TransportCapability[],
})
