/**
 * @micro-ts/store-postgres — a Micro for TypeScript store on PostgreSQL, in go-micro's layout.
 * Selected with `MICRO_STORE=postgres`; `MICRO_STORE_ADDRESS` is a PostgreSQL URL.
 */
import { coercePluginOptions, definePlugin, type Logger, STORE_ERROR_ID } from '@micro-ts/core'
import type { PostgresStoreOptions } from './options.js'
import { createPostgresStore, type PostgresStore } from './postgres.js'

export {
  DEFAULT_ADDRESS,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_DATABASE,
  DEFAULT_TABLE,
  type PostgresStoreOptions,
} from './options.js'
export { createPostgresStore, escapeLike, identifier, PostgresStore } from './postgres.js'

const NUMERIC = [
  'maxConnections',
  'idleTimeout',
  'connectTimeout',
  'statementTimeout',
  'sweepInterval',
] as const
const TEXT = ['address', 'database', 'table'] as const

/** Plugin options as given by a runner or config (numbers may arrive as strings); unknown keys are logged. */
function pluginOptions(raw: Record<string, unknown>, logger: Logger): PostgresStoreOptions {
  const schema = { numbers: NUMERIC, strings: TEXT }
  return coercePluginOptions(raw, schema, {
    label: 'postgres store',
    errorId: STORE_ERROR_ID,
    logger,
  }) as PostgresStoreOptions
}

/**
 * The plugin core's loader finds: `create` gets `MICRO_STORE_ADDRESS` (the first address is
 * used), `MICRO_STORE_DATABASE`, `MICRO_STORE_TABLE` and any plugin options.
 */
export default definePlugin({
  kind: 'store',
  name: 'postgres',
  // What the conformance suite (and micro-conformance) tests; the rest is asserted absent.
  capabilities: ['ttl', 'metadata', 'shared'],
  create(ctx): PostgresStore {
    const options = pluginOptions(ctx.options ?? {}, ctx.logger)
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
