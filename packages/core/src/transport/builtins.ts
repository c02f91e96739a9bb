/** The transports built into core, defined as plugins are: name, options, capabilities, factory. */
import { definePlugin } from '../plugin/definition.js'
import { option } from '../plugin/options.js'
import { createHttpTransport } from './http/index.js'
import { createTcpTransport } from './tcp/index.js'

export const httpTransportOptions = {
  poolSize: option.integer({
    doc: "Keep-alive connections per address, go-micro's client pool size",
    default: 100,
    min: 1,
  }),
  pipelining: option.integer({
    doc: 'Requests in flight per connection; above 1 a broken connection may resend',
    default: 1,
    min: 1,
  }),
  connectTimeout: option.duration({ doc: 'Dial timeout', default: 5_000, min: 1 }),
  idleTimeout: option.duration({
    doc: 'Idle keep-alive connections are closed after this long, both sides',
    default: 60_000,
    min: 1,
  }),
  maxResponseSize: option.integer({
    doc: 'Largest response body or stream message the client accepts, bytes',
    default: 64 * 1024 * 1024,
    min: 1,
  }),
} as const

export const httpTransportPlugin = definePlugin({
  kind: 'transport',
  name: 'http',
  options: httpTransportOptions,
  capabilities: ['stream'],
  create: ({ logger, options }) => createHttpTransport({ logger, ...options }),
})

export const tcpTransportOptions = {
  poolSize: option.integer({
    doc: 'Connections per address; each carries any number of calls at once',
    default: 1,
    min: 1,
  }),
  connectTimeout: option.duration({
    doc: "Dial timeout, up to the server's preface",
    default: 5_000,
    min: 1,
  }),
  idleTimeout: option.duration({
    doc: 'A client connection nobody used for this long is closed',
    default: 60_000,
    min: 1,
  }),
  maxResponseSize: option.integer({
    doc: 'Largest response body or stream message the client accepts, bytes',
    default: 64 * 1024 * 1024,
    min: 1,
  }),
  keepAlive: option.duration({
    doc: 'TCP keep-alive probes start after this much silence, both ends',
    default: 30_000,
    min: 1,
  }),
} as const

export const tcpTransportPlugin = definePlugin({
  kind: 'transport',
  name: 'tcp',
  options: tcpTransportOptions,
  capabilities: ['stream'],
  create: ({ logger, options }) => {
    const { poolSize, ...rest } = options
    return createTcpTransport({ logger, connections: poolSize, ...rest })
  },
})
