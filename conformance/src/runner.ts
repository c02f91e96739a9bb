/**
 * What the CLI's generated test file calls: resolve a plugin the way `MICRO_<KIND>` does and
 * register its kind's suite. Runs inside a vitest worker.
 */
import { loadPlugin, type PluginInstance, type PluginKind, type Registry, silentLogger } from '@micro-ts/core'
import { type BrokerCapability, brokerConformance } from './broker/index.js'
import { type RegistryCapability, registryConformance } from './registry/index.js'
import { type StoreCapability, storeConformance } from './store/index.js'
import { type TransportCapability, transportConformance } from './transport/index.js'

/** Everything the CLI passes to the generated test file (JSON-serialisable). */
export interface RunConfig {
  kind: PluginKind
  /** A built-in name, a plugin short name, a package name or a path (as in `MICRO_<KIND>`). */
  plugin: string
  /** `--address`, split on commas (`MICRO_<KIND>_ADDRESS`). */
  addresses: string[]
  /** `--options`: handed to the plugin's factory as `context.options`. */
  options: Record<string, unknown>
  capabilities: string[]
  /** `--suite-options`: the suite's knobs (timeouts, TTL granularity, sizes). */
  suiteOptions: Record<string, unknown>
}

/** Register the suite for `config.kind` against the plugin it names. */
export function runSuite(config: RunConfig): void {
  const { kind } = config
  let registry: Promise<Registry> | undefined
  // Brokers that find subscribers through a registry (the HTTP broker) share one in-process registry.
  const sharedRegistry = () => {
    registry ??= loadPlugin('registry', 'memory', { logger: silentLogger })
    return registry
  }
  async function create<K extends PluginKind>(k: K): Promise<PluginInstance[K]> {
    return loadPlugin(k, config.plugin, {
      addresses: config.addresses,
      options: config.options,
      logger: silentLogger,
      registry: k === 'broker' ? await sharedRegistry() : undefined,
    })
  }
  const name = config.plugin
  const options = config.suiteOptions
  switch (kind) {
    case 'registry':
      registryConformance({
        name,
        create: () => create('registry'),
        capabilities: config.capabilities as RegistryCapability[],
        options,
      })
      break
    case 'broker':
      brokerConformance({
        name,
        create: () => create('broker'),
        capabilities: config.capabilities as BrokerCapability[],
        options,
      })
      break
    case 'store':
      storeConformance({
        name,
        create: () => create('store'),
        capabilities: config.capabilities as StoreCapability[],
        options,
      })
      break
    case 'transport':
      transportConformance({
        name,
        create: () => create('transport'),
        capabilities: config.capabilities as TransportCapability[],
        options,
      })
      break
    default:
      throw new TypeError(`unknown kind ${String(kind)}`)
  }
}
