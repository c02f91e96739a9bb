/** The store built into core, defined as plugins are: name, options, capabilities, factory. */
import { definePlugin } from '../plugin/definition.js'
import { option } from '../plugin/options.js'
import { createMemoryStore } from './memory.js'

export const memoryStoreOptions = {
  sweepInterval: option.duration({
    doc: 'How often expired records are swept in the background (0: never)',
    default: 60_000,
  }),
} as const

export const memoryStorePlugin = definePlugin({
  kind: 'store',
  name: 'memory',
  options: memoryStoreOptions,
  capabilities: ['ttl', 'metadata'],
  create: ({ database, table, options }) => createMemoryStore({ database, table, ...options }),
})
