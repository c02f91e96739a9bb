/** The registries built into core, defined as plugins are: name, options, capabilities, factory. */
import { definePlugin } from '../plugin/definition.js'
import { option } from '../plugin/options.js'
import { createMdnsRegistry } from './mdns/index.js'
import { createMemoryRegistry } from './memory.js'

export const memoryRegistryPlugin = definePlugin({
  kind: 'registry',
  name: 'memory',
  capabilities: ['ttl', 'watch', 'serviceMetadata'],
  create: ({ logger }) => createMemoryRegistry({ logger }),
})

export const mdnsRegistryOptions = {
  domain: option.string({ doc: "The mDNS domain (go-micro's)", default: 'micro' }),
  timeout: option.duration({ doc: 'How long getService/listServices collect answers', default: 100, min: 1 }),
  port: option.integer({
    doc: 'UDP port; only peers on the same port see each other',
    default: 5353,
    min: 1,
    max: 65535,
  }),
  group: option.string({ doc: 'IPv4 multicast group', default: '224.0.0.251' }),
  interface: option.string({
    doc: 'IPv4 address of the interface used for multicast (default: every interface)',
  }),
  hostname: option.string({ doc: 'Host name put in SRV/A records (default: the OS host name)' }),
} as const

export const mdnsRegistryPlugin = definePlugin({
  kind: 'registry',
  name: 'mdns',
  options: mdnsRegistryOptions,
  capabilities: ['ttl', 'watch', 'shared'],
  create: ({ logger, options }) => createMdnsRegistry({ logger, ...options }),
})
