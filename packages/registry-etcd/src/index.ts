/**
 * @micro-ts/registry-etcd — service discovery in etcd, in go-micro's layout, so Go and
 * TypeScript services find each other. Select it with `MICRO_REGISTRY=etcd`.
 */
import { definePlugin } from '@micro-ts/core/plugin'
import { createEtcdRegistry } from './etcd.js'
import { etcdRegistryOptions } from './options.js'

export { createEtcdRegistry, EtcdRegistry, nodeKey, PREFIX, servicePrefix } from './etcd.js'
export { type EtcdRegistryOptions, type EtcdTlsOptions, etcdRegistryOptions } from './options.js'

export default definePlugin({
  kind: 'registry',
  name: 'etcd',
  options: etcdRegistryOptions,
  // A node's lease is its TTL; a prefix watch with previous values; one etcd for every process;
  // service metadata travels in each record.
  capabilities: ['ttl', 'watch', 'shared', 'serviceMetadata'],
  create: ({ addresses, options, logger }) => createEtcdRegistry({ ...options, addresses, logger }),
})
