import { createTcpTransport } from '@micro-ts/core'
import { BUILT_IN_CAPABILITIES, transportConformance } from '../src/index.js'

transportConformance({
  name: 'tcp',
  create: () => createTcpTransport(),
  capabilities: BUILT_IN_CAPABILITIES.transport.tcp,
})
