/**
 * @micro-ts/conformance — the suites every registry, broker, store and transport passes, the
 * embedded ones and every plugin alike. Call one from a vitest test file with a factory for a
 * fresh instance and the capabilities the implementation declares, and
 * `pluginDefinitionConformance(definition)` for what its definition promises (options,
 * variables, capability names).
 */
export { probeBackend } from './backend.js'
export {
  BROKER_CAPABILITIES,
  type BrokerCapability,
  type BrokerConformanceOptions,
  type BrokerConformanceSpec,
  brokerConformance,
} from './broker/index.js'
export { BUILT_IN_CAPABILITIES, builtInDefinition } from './builtins.js'
export {
  type CapabilityOf,
  declaredCapabilities,
  KNOWN_CAPABILITIES,
  unknownCapabilities,
} from './capabilities.js'
export {
  type PluginDefinitionConformanceOptions,
  pluginDefinitionConformance,
} from './definition/index.js'
export { inPrivateNamespace } from './netns.js'
export {
  REGISTRY_CAPABILITIES,
  type RegistryCapability,
  type RegistryConformanceOptions,
  type RegistryConformanceSpec,
  registryConformance,
} from './registry/index.js'
export {
  STORE_CAPABILITIES,
  type StoreCapability,
  type StoreConformanceOptions,
  type StoreConformanceSpec,
  storeConformance,
} from './store/index.js'
export { inCI } from './suite.js'
export {
  TRANSPORT_CAPABILITIES,
  type TransportCapability,
  type TransportConformanceOptions,
  type TransportConformanceSpec,
  transportConformance,
} from './transport/index.js'
export type { CommonOptions, SuiteSpec } from './types.js'
export { RUN_ID, uniqueName } from './util.js'
