/**
 * The registry suite: go-micro's registry tests (registry/memory_test.go, mdns_test.go: one
 * Service per version, list, deregister, TTL pruning, watch create/delete) plus exact round-trips
 * of go-micro's JSON records, awkward names, copies, concurrency and large services. One file per
 * capability group; this one wires them together.
 */
import type { Registry } from '@micro-ts/core'
import { defineSuite } from '../suite.js'
import type { CommonOptions, SuiteSpec } from '../types.js'
import { registryBasics } from './basics.js'
import { registryContext } from './context.js'
import { registryCopies } from './copies.js'
import { registryDeregister } from './deregister.js'
import { registryIsolation } from './isolation.js'
import { registryRecords } from './records.js'
import { registryShared } from './shared.js'
import { registryTtl } from './ttl.js'
import { registryWatch } from './watch.js'

/**
 * - `ttl`: a node registered with `{ttl}` disappears when not refreshed in time, and a refresh
 *   (registering again) keeps it. Absent: the TTL is ignored and the node stays.
 * - `watch`: `watch()` yields create/update/delete events and ends on `stop()`, on abort and
 *   on `close()`. Absent: `watch()` throws, or its iteration rejects, rather than waiting
 *   forever on events that never come.
 * - `shared`: instances from `create()` see each other's registrations (a real backend, or
 *   mDNS on one network). Absent: each instance sees only its own.
 * - `serviceMetadata`: the service-level `metadata` map round-trips. go-micro's mDNS (and
 *   Consul) records carry only node metadata, so it is optional. Absent: services come back
 *   without service metadata. Node metadata, endpoints and their metadata must always round-trip.
 */
export type RegistryCapability = 'ttl' | 'watch' | 'shared' | 'serviceMetadata'
export const REGISTRY_CAPABILITIES: readonly RegistryCapability[] = [
  'ttl',
  'watch',
  'shared',
  'serviceMetadata',
]

export interface RegistryConformanceOptions extends CommonOptions {
  /** The TTL the TTL cases register with, ms (default 500; etcd leases need >= 2 000). */
  ttl?: number
  /** How long after its TTL a node may still be listed, ms (default 1 000). */
  expiryTolerance?: number
  /** How long a (de)registration may take to become visible, to this or another instance, ms (default 2 000). */
  visibilityTimeout?: number
  /** How long the suite waits to be sure that something does not appear, ms (default 500). */
  quietPeriod?: number
  /** Pause after `watch()` before the first change, for watches that start asynchronously, ms (default 0). */
  watchSettle?: number
  /** Registrations in the concurrency case (default 100). */
  concurrency?: number
  /** Endpoints in the large-service case (default 200). */
  endpointCount?: number
}

export type RegistryConformanceSpec = SuiteSpec<Registry, RegistryCapability, RegistryConformanceOptions>

/** Register the registry conformance suite for one registry implementation. */
export function registryConformance(spec: RegistryConformanceSpec): void {
  defineSuite('registry', spec, REGISTRY_CAPABILITIES, () => {
    const t = registryContext(spec)
    registryBasics(t)
    registryRecords(t)
    registryIsolation(t)
    registryCopies(t)
    registryDeregister(t)
    registryTtl(t)
    registryWatch(t)
    registryShared(t)
  })
}
