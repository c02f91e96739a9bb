/**
 * @micro-ts/registry-consul — a Micro for TypeScript registry on Consul, in go-micro v5's layout.
 * Selected with `MICRO_REGISTRY=consul`; `MICRO_REGISTRY_ADDRESS` lists the agents.
 */
import { definePlugin } from '@micro-ts/core'
import { type ConsulRegistry, createConsulRegistry } from './consul.js'
import { consulRegistryOptions } from './options.js'

export { type AgentAddress, joinHostPort } from './agents.js'
export { ConsulRegistry, createConsulRegistry } from './consul.js'
export {
  decodeEndpoints,
  decodeMetadata,
  decodeVersion,
  encodeEndpoints,
  encodeMetadata,
  encodeTags,
  encodeVersion,
} from './encoding.js'
export {
  type ConsulRegistryOptions,
  consulRegistryOptions,
  DEFAULT_ADDRESS,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_PORT,
  DEFAULT_RESYNC_GRACE,
  DEFAULT_TIMEOUT,
  DEFAULT_WATCH_WAIT,
  parseAgentAddress,
  type ResolvedConsulOptions,
  resolveOptions,
} from './options.js'
export { deregisterAfter, goDuration, registration } from './records.js'

/**
 * The plugin core's loader finds: `create` gets `MICRO_REGISTRY_ADDRESS` (every address is an
 * agent to try), the options from code and from their variables (`CONSUL_HTTP_TOKEN` and the
 * others in the README), and the service's environment.
 */
export default definePlugin({
  kind: 'registry',
  name: 'consul',
  // What the conformance suite (and micro-conformance) tests; the rest is asserted absent.
  capabilities: ['ttl', 'watch', 'shared'],
  options: consulRegistryOptions,
  create(ctx): ConsulRegistry {
    // The loader has read every option's variables already; only the addresses remain.
    return createConsulRegistry({
      ...(ctx.options as Record<string, unknown>),
      addresses: ctx.addresses,
      logger: ctx.logger,
    })
  },
})
