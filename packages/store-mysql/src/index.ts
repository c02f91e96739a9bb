/**
 * @micro-ts/store-mysql — a MySQL/MariaDB store for Micro for TypeScript (`MICRO_STORE=mysql`).
 */
import { definePlugin } from '@micro-ts/core'
import { storeOptionsFrom } from '@micro-ts/core/plugin'
import { mysqlStoreOptions } from './options.js'
import { MySQLStore } from './store.js'

export {
  DEFAULT_ADDRESS,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_DATABASE,
  DEFAULT_TABLE,
  type MySQLStoreOptions,
  mysqlStoreOptions,
} from './options.js'
export { createMySQLStore, MAX_KEY_BYTES, MySQLStore } from './store.js'

/**
 * `MICRO_STORE=mysql`, address from `MICRO_STORE_ADDRESS`, the options below from code or from
 * `MICRO_STORE_MYSQL_<OPTION>`. The store connects while it is created, so a wrong address or
 * password is a startup error rather than the first request's.
 */
export default definePlugin({
  kind: 'store',
  name: 'mysql',
  // What the conformance suite (and micro-conformance) tests: TTLs in milliseconds, metadata,
  // and instances sharing one server; the rest is asserted absent.
  capabilities: ['ttl', 'metadata', 'shared'],
  options: mysqlStoreOptions,
  async create(ctx) {
    const store = new MySQLStore(storeOptionsFrom(ctx, 'mysql store'))
    try {
      await store.connect()
    } catch (err) {
      await store.close()
      throw err
    }
    return store
  },
})
