import { transportConformance } from '@micro-ts/conformance'
import { createGrpcTransport } from '../src/index.js'

transportConformance({
  name: 'grpc',
  create: () => createGrpcTransport(),
  capabilities: ['stream'],
})
