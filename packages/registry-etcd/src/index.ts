/**
 * @micro-ts/registry-etcd — service discovery in etcd, in go-micro's layout, so Go and
 * TypeScript services find each other. Select it with `MICRO_REGISTRY=etcd`.
 */
import { definePlugin, MicroError } from '@micro-ts/core'
import { createEtcdRegistry } from './etcd.js'
import { ERROR_ID, type EtcdRegistryOptions } from './options.js'

export { createEtcdRegistry, EtcdRegistry, nodeKey, PREFIX, servicePrefix } from './etcd.js'
export type { EtcdRegistryOptions, EtcdTlsOptions } from './options.js'

/** Options the plugin loader may pass (`--options` of the conformance runner, or code). */
const OPTION_KEYS = ['username', 'password', 'timeout', 'tls'] as const

export default definePlugin({
  kind: 'registry',
  name: 'etcd',
  create({ addresses, options, logger }) {
    const unknown = Object.keys(options).filter((k) => !(OPTION_KEYS as readonly string[]).includes(k))
    if (unknown.length > 0) {
      throw new MicroError(
        ERROR_ID,
        400,
        `etcd registry: unknown option(s) ${unknown.join(', ')}; accepted: ${OPTION_KEYS.join(', ')}`,
      )
    }
    return createEtcdRegistry({ ...(options as EtcdRegistryOptions), addresses, logger })
  },
})
