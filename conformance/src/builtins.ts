/**
 * The capabilities core's embedded implementations declare. The package's own test files and
 * the CLI (for built-in names) read them from here, so the two cannot disagree.
 */
import type { BrokerCapability } from './broker/index.js'
import type { RegistryCapability } from './registry/index.js'
import type { StoreCapability } from './store/index.js'
import type { TransportCapability } from './transport/index.js'

export const BUILT_IN_CAPABILITIES: {
  registry: Record<'memory' | 'mdns', readonly RegistryCapability[]>
  broker: Record<'memory' | 'http', readonly BrokerCapability[]>
  store: Record<'memory', readonly StoreCapability[]>
  transport: Record<'http' | 'tcp', readonly TransportCapability[]>
} = {
  registry: { memory: ['ttl', 'watch', 'serviceMetadata'], mdns: ['ttl', 'watch', 'shared'] },
  broker: { memory: ['queue', 'ordered'], http: ['queue', 'shared'] },
  store: { memory: ['ttl', 'metadata'] },
  transport: { http: ['stream'], tcp: ['stream'] },
}
