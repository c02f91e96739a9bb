/**
 * What the page is sent about a service: its registry records as they are (go-micro's JSON, so
 * what the page shows is what the registry holds), each endpoint with the JSON Schema its form
 * is built from and what kind of endpoint it is.
 */
import type { Endpoint, Service, Value } from '@micro-ts/core'
import { type JsonSchema, valueToJsonSchema } from '@micro-ts/gateway'

export type EndpointKind = 'call' | 'stream' | 'subscriber'

export interface EndpointView {
  name: string
  kind: EndpointKind
  request?: Value
  response?: Value
  metadata: Record<string, string>
  /** The request's JSON Schema, from its published Value. */
  requestSchema: JsonSchema
}

export interface VersionView {
  version: string
  metadata: Record<string, string>
  nodes: Service['nodes']
  endpoints: EndpointView[]
}

export interface ServiceView {
  name: string
  versions: VersionView[]
}

export function endpointKind(endpoint: Endpoint): EndpointKind {
  if (endpoint.metadata?.subscriber === 'true') return 'subscriber'
  if (endpoint.metadata?.stream === 'true') return 'stream'
  return 'call'
}

export function serviceView(name: string, services: readonly Service[]): ServiceView {
  return {
    name,
    versions: services.map((s) => ({
      version: s.version,
      metadata: s.metadata ?? {},
      nodes: s.nodes ?? [],
      endpoints: (s.endpoints ?? [])
        .map((e) => ({
          name: e.name,
          kind: endpointKind(e),
          ...(e.request ? { request: e.request } : {}),
          ...(e.response ? { response: e.response } : {}),
          metadata: e.metadata ?? {},
          requestSchema: valueToJsonSchema(e.request),
        }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    })),
  }
}
