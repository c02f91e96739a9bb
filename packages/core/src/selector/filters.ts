/**
 * go-micro's selector filters (selector/filter.go) as SelectFilter functions. Each returns new
 * arrays and leaves its input alone.
 */
import type { Service } from '../registry/types.js'
import type { SelectFilter } from './types.js'

/** Only services that declare `endpoint`. */
export function filterEndpoint(endpoint: string): SelectFilter {
  return (services: Service[]) => services.filter((s) => (s.endpoints ?? []).some((e) => e.name === endpoint))
}

/** Only nodes whose metadata has `key` = `value` (go-micro's FilterLabel). Services left without nodes go. */
export function filterLabel(key: string, value: string): SelectFilter {
  return filterMetadata({ [key]: value })
}

/** Only nodes whose metadata holds every pair of `metadata`. Services left without nodes go. */
export function filterMetadata(metadata: Record<string, string>): SelectFilter {
  const pairs = Object.entries(metadata)
  return (services: Service[]) =>
    services
      .map((s) => ({ ...s, nodes: s.nodes.filter((n) => pairs.every(([k, v]) => n.metadata?.[k] === v)) }))
      .filter((s) => s.nodes.length > 0)
}

/** Only services of `version`. */
export function filterVersion(version: string): SelectFilter {
  return (services: Service[]) => services.filter((s) => s.version === version)
}
