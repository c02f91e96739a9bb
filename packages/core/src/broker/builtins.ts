/** The brokers built into core, defined as plugins are: name, options, capabilities, factory. */

import { definePlugin } from '../plugin/definition.js'
import { pluginErrors } from '../plugin/errors.js'
import { option } from '../plugin/options.js'
import { createHttpBroker } from './http/index.js'
import { createMemoryBroker } from './memory.js'

export const memoryBrokerPlugin = definePlugin({
  kind: 'broker',
  name: 'memory',
  capabilities: ['queue', 'ordered'],
  create: ({ logger }) => createMemoryBroker({ logger }),
})

export const httpBrokerOptions = {
  registerTtl: option.duration({
    doc: "Lease of each subscriber's registration (go-micro's)",
    default: 60_000,
    min: 1,
  }),
  registerInterval: option.duration({
    doc: 'How often subscriber registrations are refreshed',
    default: 30_000,
    min: 1,
  }),
  cacheTtl: option.duration({ doc: 'How long a lookup of the subscriber list is reused', default: 5_000 }),
  maxBodySize: option.integer({
    doc: 'Largest message, bytes, on both sides: bigger publishes fail with 413',
    default: 10 * 1024 * 1024,
    min: 1,
  }),
  backlogSize: option.integer({
    doc: "Undelivered messages kept per topic for retry (go-micro's)",
    default: 64,
    min: 0,
  }),
  poolSize: option.integer({ doc: 'Keep-alive connections per subscriber address', default: 16, min: 1 }),
  maxHandlers: option.integer({
    doc: 'Subscriber handlers running at once before answers to publishers wait',
    default: 256,
    min: 1,
  }),
} as const

export const httpBrokerPlugin = definePlugin({
  kind: 'broker',
  name: 'http',
  options: httpBrokerOptions,
  capabilities: ['queue', 'shared'],
  create: ({ registry, addresses, logger, options }) => {
    if (!registry)
      throw pluginErrors('broker', 'http broker').badOption('it needs a registry to register its subscribers')
    return createHttpBroker({ registry, address: addresses[0], logger, ...options })
  },
})
