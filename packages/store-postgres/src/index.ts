/**
 * @micro-ts/store-postgres — a Micro for TypeScript store on PostgreSQL, in go-micro's layout.
 * Selected with `MICRO_STORE=postgres`; `MICRO_STORE_ADDRESS` is a PostgreSQL URL.
 */
import { definePlugin } from '@micro-ts/core'
import { postgresStoreOptions } from './options.js'
import { createPostgresStore, type PostgresStore } from './postgres.js'

export {
  DEFAULT_ADDRESS,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_DATABASE,
  DEFAULT_TABLE,
  type PostgresStoreOptions,
  postgresStoreOptions,
} from './options.js'
export { createPostgresStore, escapeLike, identifier, PostgresStore } from './postgres.js'

/**
 * The plugin core's loader finds: `create` gets `MICRO_STORE_ADDRESS` (the first address is
 * used), `MICRO_STORE_DATABASE`, `MICRO_STORE_TABLE`, and the options below from code or from
 * `MICRO_STORE_POSTGRES_<OPTION>`.
 */
export default definePlugin({
  kind: 'store',
  name: 'postgres',
  // What the conformance suite (and micro-conformance) tests; the rest is asserted absent.
  capabilities: ['ttl', 'metadata', 'shared'],
  options: postgresStoreOptions,
  create(ctx): PostgresStore {
    const options = ctx.options
    if (ctx.addresses.length > 1) {
      ctx.logger.warn({ addresses: ctx.addresses.length }, 'postgres store: using the first address only')
    }
    return createPostgresStore({
      ...options,
      address: ctx.addresses[0] ?? options.address,
      database: ctx.database || options.database,
      table: ctx.table || options.table,
      logger: ctx.logger,
    })
  },
})
