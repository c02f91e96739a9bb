import { createHttpTransport } from '@micro-ts/core'
import { transportConformance } from '../src/index.js'

transportConformance({
  name: 'http',
  create: () => createHttpTransport(),
  capabilities: ['stream'],
})
