/**
 * What the CLI's generated test file calls: resolve a plugin the way `MICRO_<KIND>` does, create
 * its instances through core's loader (options from `--options`, then the plugin's variables,
 * then its defaults), and register the definition suite and its kind's suite with the
 * capabilities its definition declares. Runs inside a vitest worker.
 */
import {
  loadPlugin,
  type PluginDefinition,
  type PluginInstance,
  type PluginKind,
  type Registry,
  silentLogger,
} from '@micro-ts/core'
import { createPlugin, parseOptions, resolvePlugin } from '@micro-ts/core/plugin'
import { brokerConformance } from './broker/index.js'
import { declaredCapabilities } from './capabilities.js'
import { pluginDefinitionConformance } from './definition/index.js'
import { registryConformance } from './registry/index.js'
import { storeConformance } from './store/index.js'
import { transportConformance } from './transport/index.js'

/** Everything the CLI passes to the generated test file (JSON-serialisable). */
export interface RunConfig {
  kind: PluginKind
  /** A built-in name, a plugin short name, a package name or a path (as in `MICRO_<KIND>`). */
  plugin: string
  /** `--address`, split on commas (`MICRO_<KIND>_ADDRESS`). */
  addresses: string[]
  /** `--options`: checked and coerced by core's option intake, then `context.options`. */
  options: Record<string, unknown>
  /** `--suite-options`: the suite's knobs (timeouts, TTL granularity, sizes). */
  suiteOptions: Record<string, unknown>
}

/** Register the suite for `config.kind` against the plugin it names. */
export async function runSuite(config: RunConfig): Promise<void> {
  const { kind } = config
  const definition = await resolvePlugin(kind, config.plugin)
  pluginDefinitionConformance(definition)
  // The CLI checked these already; parsed here to ask a mode-dependent definition its capabilities.
  const parsed = parseOptions(definition.options ?? {}, config.options, {
    kind,
    name: definition.name,
    env: process.env,
  })
  let registry: Promise<Registry> | undefined
  // Brokers that find subscribers through a registry (the HTTP broker) share one in-process registry.
  const sharedRegistry = () => {
    registry ??= loadPlugin('registry', 'memory', { logger: silentLogger })
    return registry
  }
  async function create<K extends PluginKind>(k: K): Promise<PluginInstance[K]> {
    return createPlugin(definition as unknown as PluginDefinition<K>, {
      addresses: config.addresses,
      options: config.options,
      env: process.env,
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
        capabilities: declaredCapabilities(definition as PluginDefinition<'registry'>, parsed),
        options,
      })
      break
    case 'broker':
      brokerConformance({
        name,
        create: () => create('broker'),
        capabilities: declaredCapabilities(definition as PluginDefinition<'broker'>, parsed),
        options,
      })
      break
    case 'store':
      storeConformance({
        name,
        create: () => create('store'),
        capabilities: declaredCapabilities(definition as PluginDefinition<'store'>, parsed),
        options,
      })
      break
    case 'transport':
      transportConformance({
        name,
        create: () => create('transport'),
        capabilities: declaredCapabilities(definition as PluginDefinition<'transport'>, parsed),
        options,
      })
      break
    default:
      throw new TypeError(`unknown kind ${String(kind)}`)
  }
}
