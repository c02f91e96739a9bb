/**
 * Options without a server: the definition's promises (every option from code and from its
 * variables, the 400s), options from the environment reaching the store, the 400s for a bad
 * address or TLS setting, and the README's option table against the declarations.
 */
import { pluginDefinitionConformance } from '@micro-ts/conformance'
import { expectMicroError, expectReadmeOptions, testCertificates } from '@micro-ts/conformance/testing'
import { parseOptions } from '@micro-ts/core/plugin'
import { describe, expect, it } from 'vitest'
import plugin, { createMySQLStore, type MySQLStoreOptions, mysqlStoreOptions } from '../src/index.js'

/**
 * The options the loader hands the plugin (parseOptions with the environment), as the store
 * resolves them. The plugin itself connects while it is created; that is tested with a server.
 */
async function fromEnv(env: Record<string, string>) {
  const store = createMySQLStore(parseOptions(mysqlStoreOptions, {}, { kind: 'store', name: 'mysql', env }))
  await store.close()
  return store.resolvedOptions
}

// What every plugin definition promises (options from code and variables, the 400s, capabilities).
pluginDefinitionConformance(plugin)

it('options set from the environment reach the store, coerced, TLS material read from files', async () => {
  const certs = testCertificates()
  const env = {
    MICRO_STORE_MYSQL_ADDRESS: 'mysql://app:pw@db.internal:3307/appdb',
    MICRO_STORE_MYSQL_DATABASE: 'billing',
    MICRO_STORE_MYSQL_TABLE: 'invoices',
    MICRO_STORE_MYSQL_MAX_CONNECTIONS: '3',
    MICRO_STORE_MYSQL_IDLE_TIMEOUT: '2s',
    MICRO_STORE_MYSQL_CONNECT_TIMEOUT: '750ms',
    MICRO_STORE_MYSQL_SWEEP_INTERVAL: '0',
    MICRO_STORE_MYSQL_TLS: 'true',
    MICRO_STORE_MYSQL_TLS_CA_FILE: certs.files.ca,
    MICRO_STORE_MYSQL_TLS_CERT: certs.clientCert,
    MICRO_STORE_MYSQL_TLS_KEY_FILE: certs.files.clientKey,
  }
  expect(await fromEnv(env)).toEqual({
    host: 'db.internal',
    port: 3307,
    user: 'app',
    password: 'pw',
    displayAddress: 'mysql://app:***@db.internal:3307/appdb',
    database: 'billing',
    table: 'invoices',
    maxConnections: 3,
    idleTimeout: 2000,
    connectTimeout: 750,
    sweepInterval: 0,
    tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
  })
})

describe('addresses', () => {
  it("the database is the option's, else the address's, else micro; credentials are decoded", () => {
    const database = (options: MySQLStoreOptions) => createMySQLStore(options).resolvedOptions.database
    expect(database({ address: 'mysql://h/appdb' })).toBe('appdb')
    expect(database({ address: 'mysql://h/appdb', database: 'other' })).toBe('other')
    expect(database({ address: 'h' })).toBe('micro')
    const o = createMySQLStore({ address: 'mysql://u%40x:p%3Aw@[::1]:3310/d' }).resolvedOptions
    expect([o.user, o.password, o.host, o.port, o.tls]).toEqual(['u@x', 'p:w', '::1', 3310, undefined])
  })

  it('a malformed address is a 400 with the store id', async () => {
    for (const [address, detail] of [
      ['postgres://x@y/z', /the scheme must be mysql:\/\/ or mariadb:\/\//],
      ['mysql://', /no host/],
      ['mysql://h/a%zz', /the database is not valid percent-encoding/],
      ['mysql://h:1/a/b', /the path must be one database name/],
    ] as const) {
      const e = await expectMicroError(() => createMySQLStore({ address }), 400)
      expect([e.id, e.detail], address).toEqual(['go.micro.store', expect.stringMatching(detail)])
    }
  })
})

it("the README's option table is the declarations'", () => {
  expectReadmeOptions(new URL('../README.md', import.meta.url), plugin)
})
