/**
 * Options without a server: the definition's promises (every option from code and from its
 * variables, the 400s), options from the environment reaching the store, the 400s for a bad
 * address or TLS setting, and the README's option table against the declarations.
 */
import { pluginDefinitionConformance } from '@micro-ts/conformance'
import { expectMicroError, expectReadmeOptions, testCertificates } from '@micro-ts/conformance/testing'
import { createPlugin } from '@micro-ts/core/plugin'
import { describe, expect, it } from 'vitest'
import plugin, { createRedisStore, type RedisStore } from '../src/index.js'

// What every plugin definition promises (options from code and variables, the 400s, capabilities).
pluginDefinitionConformance(plugin)

it('options set from the environment reach the store, coerced, TLS material read from files', async () => {
  const certs = testCertificates()
  const env = {
    MICRO_STORE_REDIS_ADDRESS: 'redis://:pw@cache.internal:6380/2',
    MICRO_STORE_REDIS_DATABASE: 'billing',
    MICRO_STORE_REDIS_TABLE: 'invoices',
    MICRO_STORE_REDIS_KEY_PREFIX: 'billing:',
    MICRO_STORE_REDIS_CONNECT_TIMEOUT: '750ms',
    MICRO_STORE_REDIS_COMMAND_TIMEOUT: '2s',
    MICRO_STORE_REDIS_SCAN_COUNT: '50',
    MICRO_STORE_REDIS_TLS: 'on',
    MICRO_STORE_REDIS_TLS_CA_FILE: certs.files.ca,
    MICRO_STORE_REDIS_TLS_CERT: certs.clientCert,
    MICRO_STORE_REDIS_TLS_KEY_FILE: certs.files.clientKey,
  }
  const store = (await createPlugin(plugin, { env })) as RedisStore
  await store.close()
  expect(store.resolvedOptions).toEqual({
    url: 'redis://:pw@cache.internal:6380/2',
    displayAddress: 'redis://:***@cache.internal:6380/2',
    database: 'billing',
    table: 'invoices',
    keyPrefix: 'billing:',
    connectTimeout: 750,
    commandTimeout: 2000,
    scanCount: 50,
    tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
  })
})

describe('addresses and TLS', () => {
  it('a bad address is a 400 with the store id', async () => {
    for (const [address, detail] of [
      ['postgres://127.0.0.1', /the scheme must be redis:\/\/ or rediss:\/\//],
      ['redis://[oops', /not a URL/],
      ['redis://127.0.0.1:6379/notanumber', /the path must be a database number/],
    ] as const) {
      const e = await expectMicroError(() => createRedisStore({ address }), 400)
      expect([e.id, e.detail], address).toEqual(['go.micro.store', expect.stringMatching(detail)])
    }
  })

  it('rediss:// or any tls option turns TLS on; redis:// alone stays plain', () => {
    expect(createRedisStore({ address: 'rediss://cache:6380' }).resolvedOptions.tls).toEqual({})
    expect(createRedisStore({ address: 'cache:6380' }).resolvedOptions.tls).toBeUndefined()
    expect(createRedisStore({ tls: { ca: 'CA PEM' } }).resolvedOptions.tls).toEqual({ ca: 'CA PEM' })
  })
})

it("the README's option table is the declarations'", () => {
  expectReadmeOptions(new URL('../README.md', import.meta.url), plugin)
})
