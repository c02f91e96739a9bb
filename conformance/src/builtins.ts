/**
 * Core's embedded implementations, read from core's own definitions (`builtInPlugins()`): their
 * capabilities are declared beside each built-in in core, and only re-read here.
 */
import { builtInPlugins, type PluginDefinition, type PluginKind } from '@micro-ts/core'
import { type CapabilityOf, declaredCapabilities } from './capabilities.js'

/** The definition of core's built-in `kind` named `name`; a TypeError names the built-ins when there is none. */
export function builtInDefinition<K extends PluginKind>(kind: K, name: string): PluginDefinition<K> {
  const all = builtInPlugins(kind)
  const found = all.find((d) => d.name === name)
  if (!found) {
    throw new TypeError(
      `no built-in ${kind} ${name}; built-in ${kind}s: ${all.map((d) => d.name).join(', ')}`,
    )
  }
  return found as unknown as PluginDefinition<K>
}

function byName<K extends PluginKind>(kind: K): Readonly<Record<string, readonly CapabilityOf<K>[]>> {
  const out: Record<string, readonly CapabilityOf<K>[]> = {}
  for (const d of builtInPlugins(kind))
    out[d.name] = Object.freeze(declaredCapabilities<K>(d as PluginDefinition<K>))
  return Object.freeze(out)
}

/** The capabilities each built-in declares, by kind and name (`BUILT_IN_CAPABILITIES.broker.http`). */
export const BUILT_IN_CAPABILITIES: {
  readonly [K in PluginKind]: Readonly<Record<string, readonly CapabilityOf<K>[]>>
} = Object.freeze({
  registry: byName('registry'),
  broker: byName('broker'),
  store: byName('store'),
  transport: byName('transport'),
})
