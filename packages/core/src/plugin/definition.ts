/**
 * What a plugin is: its kind, its name, the options it accepts (declared once, see options.ts),
 * the optional capabilities it has, and a factory. Built-ins are defined the same way.
 */
import type { Broker } from '../broker/types.js'
import type { Logger } from '../logger.js'
import type { Registry } from '../registry/types.js'
import type { Store } from '../store/types.js'
import type { Transport } from '../transport/types.js'
import type { OptionSpecs, OptionValues } from './options.js'

export type PluginKind = 'registry' | 'broker' | 'transport' | 'store'
export const PLUGIN_KINDS: readonly PluginKind[] = ['registry', 'broker', 'transport', 'store']

export interface PluginInstance {
  registry: Registry
  broker: Broker
  transport: Transport
  store: Store
}

/** What a plugin factory is given. */
export interface PluginContext<S extends OptionSpecs = OptionSpecs> {
  /** `MICRO_<KIND>_ADDRESS` split on commas (empty when unset: use the backend's default). */
  addresses: string[]
  /** The declared options, checked and coerced: code first, then the environment, then defaults. */
  options: OptionValues<S>
  /** The environment the service reads (`createService({ env })`, default `process.env`). Read options, not this, where you can. */
  env: Readonly<Record<string, string | undefined>>
  logger: Logger
  /** The registry the service uses; brokers that register subscribers (the HTTP broker) need it. */
  registry?: Registry
  /** Store only: `MICRO_STORE_DATABASE` / `MICRO_STORE_TABLE`. */
  database?: string
  table?: string
}

/** What a plugin package exports as its default export. */
export interface PluginDefinition<K extends PluginKind = PluginKind, S extends OptionSpecs = OptionSpecs> {
  kind: K
  /** Short name used in `MICRO_<KIND>=<name>`, e.g. `etcd`. */
  name: string
  /** The options it accepts; any other is a 400 at start-up. No declaration: it accepts none. */
  options?: S
  /**
   * Optional features it has (e.g. `ack`, `ttl`, `stream`): the conformance suite tests every
   * declared one and asserts the others absent.
   */
  capabilities?: readonly string[]
  /**
   * Capabilities a mode adds, as a function of the parsed options (the nats broker has `ack`
   * and `persistent` only with `jetstream: true`). `capabilitiesOf()` joins both.
   */
  modeCapabilities?(options: OptionValues<S>): readonly string[]
  create(context: PluginContext<S>): PluginInstance[K] | Promise<PluginInstance[K]>
}

/**
 * Declare a plugin. A package `@micro-ts/registry-etcd` does
 * `export default definePlugin({ kind: 'registry', name: 'etcd', options: {...}, create: (ctx) => ... })`.
 */
export function definePlugin<K extends PluginKind, S extends OptionSpecs = Record<never, never>>(
  definition: PluginDefinition<K, S>,
): PluginDefinition<K, S> {
  if (!definition || typeof definition.create !== 'function') {
    throw new TypeError('definePlugin: `create` must be a function')
  }
  if (!(PLUGIN_KINDS as readonly string[]).includes(definition.kind)) {
    throw new TypeError(`definePlugin: kind must be one of ${PLUGIN_KINDS.join(', ')}`)
  }
  if (typeof definition.name !== 'string' || definition.name === '') {
    throw new TypeError('definePlugin: `name` must be a non-empty string')
  }
  return Object.freeze({
    ...definition,
    options: Object.freeze({ ...(definition.options ?? {}) }) as S,
    capabilities: Object.freeze([...(definition.capabilities ?? [])]),
  })
}

/**
 * The capabilities of `definition` with these (parsed) options: its list, plus what its
 * `modeCapabilities` add for them. Callers with raw options parse them first (`parseOptions`).
 */
export function capabilitiesOf<S extends OptionSpecs>(
  definition: PluginDefinition<PluginKind, S>,
  options?: OptionValues<S>,
): readonly string[] {
  const base = definition.capabilities ?? []
  const extra = definition.modeCapabilities?.(options ?? ({} as OptionValues<S>)) ?? []
  return [...base, ...extra.filter((c) => !base.includes(c))]
}

export function isPluginDefinition(value: unknown): value is PluginDefinition {
  if (!value || typeof value !== 'object') return false
  const v = value as Record<string, unknown>
  return (
    typeof v.kind === 'string' &&
    (PLUGIN_KINDS as readonly string[]).includes(v.kind) &&
    typeof v.name === 'string' &&
    typeof v.create === 'function'
  )
}
