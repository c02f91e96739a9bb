/**
 * Capabilities are declared once, on the plugin definition (`definePlugin({ capabilities })`,
 * core's built-ins included). The suites, their test files and the CLI read them from there;
 * this file only knows which names each kind's suite tests.
 */
import type { OptionSpecs, OptionValues, PluginDefinition, PluginKind } from '@micro-ts/core'
import { capabilitiesOf } from '@micro-ts/core/plugin'
import { BROKER_CAPABILITIES, type BrokerCapability } from './broker/index.js'
import { REGISTRY_CAPABILITIES, type RegistryCapability } from './registry/index.js'
import { STORE_CAPABILITIES, type StoreCapability } from './store/index.js'
import { TRANSPORT_CAPABILITIES, type TransportCapability } from './transport/index.js'

/** The capability names of one kind. */
export type CapabilityOf<K extends PluginKind> = K extends 'registry'
  ? RegistryCapability
  : K extends 'broker'
    ? BrokerCapability
    : K extends 'store'
      ? StoreCapability
      : K extends 'transport'
        ? TransportCapability
        : never

/** Every capability name each kind's suite knows. */
export const KNOWN_CAPABILITIES: { readonly [K in PluginKind]: readonly CapabilityOf<K>[] } = {
  registry: REGISTRY_CAPABILITIES,
  broker: BROKER_CAPABILITIES,
  store: STORE_CAPABILITIES,
  transport: TRANSPORT_CAPABILITIES,
}

/** The names in `capabilities` that `kind`'s suite does not know. */
export function unknownCapabilities(kind: PluginKind, capabilities: readonly string[]): string[] {
  const known = KNOWN_CAPABILITIES[kind] as readonly string[]
  return capabilities.filter((c) => !known.includes(c))
}

/**
 * What a plugin definition declares, typed for its kind's suite:
 * `storeConformance({ name, create, capabilities: declaredCapabilities(plugin) })`. A definition
 * whose capabilities depend on its options (the nats broker's `jetstream`) is asked with
 * `options` (parsed values, e.g. `{ jetstream: true }`). Throws a TypeError naming an unknown
 * capability, so a typo fails loudly instead of being asserted absent.
 */
export function declaredCapabilities<K extends PluginKind>(
  definition: PluginDefinition<K, OptionSpecs>,
  options?: Readonly<Record<string, unknown>>,
): CapabilityOf<K>[] {
  const declared = [...capabilitiesOf(definition, options as OptionValues<OptionSpecs> | undefined)]
  const unknown = unknownCapabilities(definition.kind, declared)
  if (unknown.length > 0) {
    throw new TypeError(
      `${definition.kind} plugin ${definition.name} declares unknown capabilities ${unknown.join(', ')}; ` +
        `known: ${KNOWN_CAPABILITIES[definition.kind].join(', ')}`,
    )
  }
  return declared as CapabilityOf<K>[]
}
