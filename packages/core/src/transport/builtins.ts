/** The transports built into core, defined as plugins are: name, options, capabilities, factory. */
import { definePlugin } from '../plugin/definition.js'
import { createHttpTransport } from './http/index.js'
import { httpTransportOptions } from './http/options.js'
import { createTcpTransport } from './tcp/index.js'
import { tcpTransportOptions } from './tcp/options.js'

export { httpTransportOptions, tcpTransportOptions }

export const httpTransportPlugin = definePlugin({
  kind: 'transport',
  name: 'http',
  options: httpTransportOptions,
  capabilities: ['stream'],
  create: ({ logger, options }) => createHttpTransport({ logger, ...options }),
})

export const tcpTransportPlugin = definePlugin({
  kind: 'transport',
  name: 'tcp',
  options: tcpTransportOptions,
  capabilities: ['stream'],
  create: ({ logger, options }) => createTcpTransport({ logger, ...options }),
})
