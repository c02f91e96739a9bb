import type { Broker } from './broker/types.js'
import { MicroError } from './errors.js'
import type { Logger } from './logger.js'
import type { Registry } from './registry/types.js'
import type { Store } from './store/types.js'
import type { Transport } from './transport/types.js'

export type PluginKind = 'registry' | 'broker' | 'transport' | 'store'
export const PLUGIN_KINDS: readonly PluginKind[] = ['registry', 'broker', 'transport', 'store']

export interface PluginInstance {
  registry: Registry
  broker: Broker
  transport: Transport
  store: Store
}

/** What a plugin factory is given. Everything comes from `MICRO_*` variables or the caller. */
export interface PluginContext {
  /** `MICRO_<KIND>_ADDRESS` split on commas (empty when unset: use the backend's default). */
  addresses: string[]
  /** Plugin-specific options (e.g. from the conformance runner's `--options`). */
  options: Record<string, unknown>
  logger: Logger
  /** The registry the service uses; brokers that register subscribers (the HTTP broker) need it. */
  registry?: Registry
  /** Store only: `MICRO_STORE_DATABASE` / `MICRO_STORE_TABLE`. */
  database?: string
  table?: string
}

/** What a plugin package exports as its default export. */
export interface PluginDefinition<K extends PluginKind = PluginKind> {
  kind: K
  /** Short name used in `MICRO_<KIND>=<name>`, e.g. `etcd`. */
  name: string
  create(context: PluginContext): PluginInstance[K] | Promise<PluginInstance[K]>
  /**
   * Optional features the plugin declares (e.g. `ack`, `ttl`, `stream`): the conformance suite
   * tests every declared one and asserts the others absent.
   */
  capabilities?: readonly string[]
}

/**
 * Declare a plugin. A package `@micro-ts/registry-etcd` does
 * `export default definePlugin({ kind: 'registry', name: 'etcd', create: (ctx) => new EtcdRegistry(...) })`.
 */
export function definePlugin<K extends PluginKind>(definition: PluginDefinition<K>): PluginDefinition<K> {
  if (!definition || typeof definition.create !== 'function') {
    throw new TypeError('definePlugin: `create` must be a function')
  }
  return Object.freeze({ ...definition })
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

/** Which plugin options are numbers and which are text, for {@link coercePluginOptions}. */
export interface PluginOptionSchema {
  numbers?: readonly string[]
  strings?: readonly string[]
}

/**
 * Plugin options as a runner or config gives them (numbers may arrive as strings): numbers are
 * parsed (a non-number is a 400 MicroError with `errorId`), text is stringified, and unknown keys
 * are logged and dropped. `label` names the plugin in messages, e.g. `postgres store`.
 */
export function coercePluginOptions(
  raw: Record<string, unknown>,
  schema: PluginOptionSchema,
  context: { label: string; errorId: string; logger: Logger },
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(raw)) {
    if (schema.numbers?.includes(key)) {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value
      if (typeof n !== 'number' || Number.isNaN(n)) {
        throw new MicroError(
          context.errorId,
          400,
          `${context.label}: option ${key} must be a number, got ${String(value)}`,
        )
      }
      out[key] = n
    } else if (schema.strings?.includes(key)) {
      out[key] = value === undefined ? undefined : String(value)
    } else {
      context.logger.warn({ option: key }, `${context.label}: unknown option ignored`)
    }
  }
  return out
}
