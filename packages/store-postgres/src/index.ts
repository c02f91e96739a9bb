/**
 * @micro-ts/store-postgres — a Micro for TypeScript store on PostgreSQL, in go-micro's layout.
 * Selected with `MICRO_STORE=postgres`; `MICRO_STORE_ADDRESS` is a PostgreSQL URL.
 */
import { definePlugin } from '@micro-ts/core'
import { createPostgresStore, type PostgresStore } from './postgres.js'

export {
  DEFAULT_ADDRESS,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_DATABASE,
  DEFAULT_TABLE,
  type PostgresStoreOptions,
} from './options.js'
export { createPostgresStore, escapeLike, identifier, PostgresStore } from './postgres.js'

/**
 * The plugin core's loader finds: `create` gets `MICRO_STORE_ADDRESS` (the first address is
 * used), `MICRO_STORE_DATABASE`, `MICRO_STORE_TABLE` and any plugin options.
 */
export default definePlugin({
  kind: 'store',
  name: 'postgres',
  create(ctx): PostgresStore {
    if (ctx.addresses.length > 1) {
      ctx.logger.warn({ addresses: ctx.addresses.length }, 'postgres store: using the first address only')
    }
    return createPostgresStore({
      ...ctx.options,
      address: ctx.addresses[0] ?? (ctx.options.address as string | undefined),
      database: ctx.database || (ctx.options.database as string | undefined),
      table: ctx.table || (ctx.options.table as string | undefined),
      logger: ctx.logger,
    })
  },
})
