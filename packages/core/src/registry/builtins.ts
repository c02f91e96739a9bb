/** The registries built into core, defined as plugins are: name, options, capabilities, factory. */
import { definePlugin } from '../plugin/definition.js'
import { createMdnsRegistry, mdnsRegistryOptions } from './mdns/index.js'
import { createMemoryRegistry } from './memory.js'

export const memoryRegistryPlugin = definePlugin({
  kind: 'registry',
  name: 'memory',
  capabilities: ['ttl', 'watch', 'serviceMetadata'],
  create: ({ logger }) => createMemoryRegistry({ logger }),
})

export const mdnsRegistryPlugin = definePlugin({
  kind: 'registry',
  name: 'mdns',
  options: mdnsRegistryOptions,
  capabilities: ['ttl', 'watch', 'shared'],
  create: ({ logger, options }) => createMdnsRegistry({ logger, ...options }),
})
