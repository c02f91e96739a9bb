/**
 * @micro-ts/store-mysql — a MySQL/MariaDB store for Micro for TypeScript (`MICRO_STORE=mysql`).
 */
import { definePlugin, type PluginContext } from '@micro-ts/core'
import type { MySQLStoreOptions } from './options.js'
import { MySQLStore } from './store.js'

export {
  DEFAULT_ADDRESS,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_DATABASE,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_SWEEP_INTERVAL,
  DEFAULT_TABLE,
  type MySQLStoreOptions,
} from './options.js'
export { createMySQLStore, MAX_KEY_BYTES, MySQLStore } from './store.js'

const NUMERIC = ['maxConnections', 'idleTimeout', 'connectTimeout', 'sweepInterval'] as const

/** Options from the environment and the caller's `options` map (numbers may arrive as strings). */
function fromContext(ctx: PluginContext): MySQLStoreOptions {
  const o = ctx.options ?? {}
  if (ctx.addresses.length > 1) {
    ctx.logger.warn(
      { addresses: ctx.addresses.length },
      'mysql store: several addresses given; using the first',
    )
  }
  const options: MySQLStoreOptions = {
    address: ctx.addresses[0] ?? (typeof o.address === 'string' ? o.address : undefined),
    database: ctx.database || (typeof o.database === 'string' ? o.database : undefined),
    table: ctx.table || (typeof o.table === 'string' ? o.table : undefined),
    logger: ctx.logger,
  }
  for (const name of NUMERIC) {
    const v = o[name]
    // A non-numeric string stays as is and is rejected with a clear 400 by the store.
    if (v !== undefined) options[name] = (typeof v === 'string' && v.trim() !== '' ? Number(v) : v) as number
  }
  return options
}

/** What the conformance suite tests: TTLs in milliseconds, metadata, and instances sharing one server. */
export const CAPABILITIES = ['ttl', 'metadata', 'shared'] as const

/**
 * `MICRO_STORE=mysql`, address from `MICRO_STORE_ADDRESS`. The store connects while it is created,
 * so a wrong address or password is a startup error rather than the first request's.
 * `capabilities` tells the conformance runner what to test.
 */
export default definePlugin({
  kind: 'store',
  name: 'mysql',
  async create(ctx) {
    const store = new MySQLStore(fromContext(ctx))
    try {
      await store.connect()
    } catch (err) {
      await store.close()
      throw err
    }
    return store
  },
  capabilities: CAPABILITIES,
})
