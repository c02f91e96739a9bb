/**
 * @micro-ts/store-redis — a Micro for TypeScript store on Redis.
 * Selected with `MICRO_STORE=redis`; `MICRO_STORE_ADDRESS` is a `redis://` URL.
 */
import { definePlugin } from '@micro-ts/core'
import { createRedisStore, type RedisStore } from './redis.js'

export {
  DEFAULT_ADDRESS,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_DATABASE,
  DEFAULT_TABLE,
  type RedisStoreOptions,
} from './options.js'
export {
  createRedisStore,
  decodeEnvelope,
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
  create(ctx): RedisStore {
    if (ctx.addresses.length > 1) {
      ctx.logger.warn({ addresses: ctx.addresses.length }, 'redis store: using the first address only')
    }
    return createRedisStore({
      ...ctx.options,
      address: ctx.addresses[0] ?? (ctx.options.address as string | undefined),
      database: ctx.database || (ctx.options.database as string | undefined),
      table: ctx.table || (ctx.options.table as string | undefined),
      logger: ctx.logger,
    })
  },
})
