/**
 * @micro-ts/store-redis — a Micro for TypeScript store on Redis.
 * Selected with `MICRO_STORE=redis`; `MICRO_STORE_ADDRESS` is a `redis://` URL.
 */
import { definePlugin } from '@micro-ts/core'
import { storeOptionsFrom } from '@micro-ts/core/plugin'
import { redisStoreOptions } from './options.js'
import { createRedisStore, type RedisStore } from './redis.js'

export {
  DEFAULT_ADDRESS,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_DATABASE,
  DEFAULT_TABLE,
  type RedisStoreOptions,
  redisStoreOptions,
} from './options.js'
export {
  createRedisStore,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  encodeName,
  escapeGlob,
  RedisStore,
} from './redis.js'

/**
 * The plugin core's loader finds: `create` gets `MICRO_STORE_ADDRESS` (the first address is
 * used), `MICRO_STORE_DATABASE`, `MICRO_STORE_TABLE` and any plugin options (e.g. `keyPrefix`).
 */
export default definePlugin({
  kind: 'store',
  name: 'redis',
  // What the conformance suite (and micro-conformance) tests; the rest is asserted absent.
  capabilities: ['ttl', 'metadata', 'shared'],
  options: redisStoreOptions,
  create(ctx): RedisStore {
    return createRedisStore(storeOptionsFrom(ctx, 'redis store'))
  },
})
