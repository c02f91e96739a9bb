import { createHttpTransport } from '@micro-ts/core'
import { BUILT_IN_CAPABILITIES, transportConformance } from '../src/index.js'

transportConformance({
  name: 'http',
  create: () => createHttpTransport(),
  capabilities: BUILT_IN_CAPABILITIES.transport.http,
})
