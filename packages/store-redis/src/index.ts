/**
 * @micro-ts/store-redis — a Micro for TypeScript store on Redis.
 * Selected with `MICRO_STORE=redis`; `MICRO_STORE_ADDRESS` is a `redis://` URL.
 */
import { coercePluginOptions, definePlugin, type Logger, STORE_ERROR_ID } from '@micro-ts/core'
import type { RedisStoreOptions } from './options.js'
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

const NUMERIC = ['connectTimeout', 'commandTimeout', 'scanCount'] as const
const TEXT = ['address', 'database', 'table', 'keyPrefix'] as const

/** Plugin options as given by a runner or config (numbers may arrive as strings); unknown keys are logged. */
function pluginOptions(raw: Record<string, unknown>, logger: Logger): RedisStoreOptions {
  const schema = { numbers: NUMERIC, strings: TEXT }
  return coercePluginOptions(raw, schema, {
    label: 'redis store',
    errorId: STORE_ERROR_ID,
    logger,
  }) as RedisStoreOptions
}

/**
 * The plugin core's loader finds: `create` gets `MICRO_STORE_ADDRESS` (the first address is
 * used), `MICRO_STORE_DATABASE`, `MICRO_STORE_TABLE` and any plugin options (e.g. `keyPrefix`).
 */
export default definePlugin({
  kind: 'store',
  name: 'redis',
  // What the conformance suite (and micro-conformance) tests; the rest is asserted absent.
  capabilities: ['ttl', 'metadata', 'shared'],
  create(ctx): RedisStore {
    const options = pluginOptions(ctx.options ?? {}, ctx.logger)
    if (ctx.addresses.length > 1) {
      ctx.logger.warn({ addresses: ctx.addresses.length }, 'redis store: using the first address only')
    }
    return createRedisStore({
      ...options,
      address: ctx.addresses[0] ?? options.address,
      database: ctx.database || options.database,
      table: ctx.table || options.table,
      logger: ctx.logger,
    })
  },
})
