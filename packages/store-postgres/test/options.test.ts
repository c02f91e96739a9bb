/**
 * Options without a server: the definition's promises (every option from code and from its
 * variables, the 400s), options from the environment reaching the store, the 400s for a bad
 * address or TLS setting, and the README's option table against the declarations.
 */
import { pluginDefinitionConformance } from '@micro-ts/conformance'
import { expectMicroError, expectReadmeOptions, testCertificates } from '@micro-ts/conformance/testing'
import { createPlugin } from '@micro-ts/core/plugin'
import { describe, expect, it } from 'vitest'
import plugin, { createPostgresStore, type PostgresStore, type PostgresStoreOptions } from '../src/index.js'

// What every plugin definition promises (options from code and variables, the 400s, capabilities).
pluginDefinitionConformance(plugin)

it('options set from the environment reach the store, coerced, TLS material read from files', async () => {
  const certs = testCertificates()
  const env = {
    MICRO_STORE_POSTGRES_ADDRESS: 'postgresql://app:pw@db.internal:6543/appdb',
    MICRO_STORE_POSTGRES_DATABASE: 'billing',
    MICRO_STORE_POSTGRES_TABLE: 'invoices',
    MICRO_STORE_POSTGRES_MAX_CONNECTIONS: '3',
    MICRO_STORE_POSTGRES_IDLE_TIMEOUT: '2s',
    MICRO_STORE_POSTGRES_CONNECT_TIMEOUT: '750ms',
    MICRO_STORE_POSTGRES_STATEMENT_TIMEOUT: '1m',
    MICRO_STORE_POSTGRES_SWEEP_INTERVAL: '0',
    MICRO_STORE_POSTGRES_TLS: 'yes',
    MICRO_STORE_POSTGRES_TLS_CA_FILE: certs.files.ca,
    MICRO_STORE_POSTGRES_TLS_CERT: certs.clientCert,
    MICRO_STORE_POSTGRES_TLS_KEY_FILE: certs.files.clientKey,
  }
  const store = (await createPlugin(plugin, { env })) as PostgresStore
  await store.close()
  expect(store.resolvedOptions).toEqual({
    connectionString: 'postgresql://app:pw@db.internal:6543/appdb',
    displayAddress: 'postgresql://app:***@db.internal:6543/appdb',
    database: 'billing',
    table: 'invoices',
    maxConnections: 3,
    idleTimeout: 2000,
    connectTimeout: 750,
    statementTimeout: 60_000,
    sweepInterval: 0,
    tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
  })
})

describe('addresses and TLS', () => {
  it('a bad address, or TLS both in the URL and in the options, is a 400 with the store id', async () => {
    const cases: [PostgresStoreOptions, RegExp][] = [
      [{ address: 'mysql://127.0.0.1/x' }, /the scheme must be postgresql:\/\/ or postgres:\/\//],
      [{ address: 'http://[oops' }, /not a URL/],
      [{ address: 'redis://localhost' }, /the scheme must be/],
      [{ address: 'postgresql://h/db?sslmode=require', tls: true }, /TLS is set both in the address/],
    ]
    for (const [options, detail] of cases) {
      const e = await expectMicroError(() => createPostgresStore(options), 400)
      expect([e.id, e.detail], JSON.stringify(options)).toEqual([
        'go.micro.store',
        expect.stringMatching(detail),
      ])
    }
  })

  it('a bare host:port gets the postgres user and database; TLS stays off unless asked for', () => {
    const o = createPostgresStore({ address: 'db.internal:6543' }).resolvedOptions
    expect([o.displayAddress, o.tls]).toEqual(['postgresql://postgres@db.internal:6543/postgres', undefined])
    expect(createPostgresStore({ tls: { ca: 'CA PEM' } }).resolvedOptions.tls).toEqual({ ca: 'CA PEM' })
  })
})

it("the README's option table is the declarations'", () => {
  expectReadmeOptions(new URL('../README.md', import.meta.url), plugin)
})
