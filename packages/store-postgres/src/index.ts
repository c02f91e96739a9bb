/**
 * @micro-ts/store-postgres — a Micro for TypeScript store on PostgreSQL, in go-micro's layout.
 * Selected with `MICRO_STORE=postgres`; `MICRO_STORE_ADDRESS` is a PostgreSQL URL.
 */
import { definePlugin } from '@micro-ts/core'
import { storeOptionsFrom } from '@micro-ts/core/plugin'
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
    return createPostgresStore(storeOptionsFrom(ctx, 'postgres store'))
  },
})
