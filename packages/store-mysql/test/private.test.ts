/**
 * store-mysql against MariaDB servers of its own: a crash and restart under a write loop, and
 * TLS (a server that requires it, a CA of our own, a user that must present a certificate).
 */
import { recordingLogger, requireThat, testCertificates } from '@micro-ts/conformance/testing'
import { MariaDBServer } from '@micro-ts/conformance/testing/mariadb'
import { MicroError } from '@micro-ts/core'
import { createPlugin } from '@micro-ts/core/plugin'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import plugin, { createMySQLStore, type MySQLStore } from '../src/index.js'
import { bytes, storeError, text } from './helpers.js'

const can = requireThat(
  MariaDBServer.available(),
  'store-mysql private servers: mariadbd/mariadb-install-db are not installed',
)

describe.runIf(can)('mysql store: server restart', () => {
  it('recovers by itself after a crash and restart, with every acknowledged write kept', async () => {
    const server = await MariaDBServer.start()
    try {
      const s = createMySQLStore({ address: server.url(), connectTimeout: 1000, sweepInterval: 0 })
      try {
        const acked: string[] = []
        let i = 0
        let stop = false
        let failures = 0
        const loop = (async () => {
          while (!stop) {
            const key = `w${String(i++).padStart(5, '0')}`
            try {
              await s.write({ key, value: bytes(key) })
              acked.push(key)
            } catch (err) {
              expect(err).toBeInstanceOf(MicroError)
              expect((err as MicroError).code).toBe(503)
              failures++
              await new Promise((r) => setTimeout(r, 50))
            }
          }
        })()
        await expect.poll(() => acked.length, { timeout: 10_000 }).toBeGreaterThan(20)
        await server.restart(500)
        const before = acked.length
        await expect.poll(() => acked.length, { timeout: 15_000 }).toBeGreaterThan(before + 20)
        stop = true
        await loop
        expect(failures).toBeGreaterThan(0)
        const keys = new Set(await s.list())
        for (const key of acked) expect(keys.has(key)).toBe(true)
      } finally {
        await s.close()
      }
    } finally {
      await server.stop()
    }
  }, 60_000)
})

describe.runIf(can)('mysql store over TLS (a server that requires TLS)', () => {
  const certs = testCertificates()
  let server: MariaDBServer
  const open: MySQLStore[] = []
  /** The plugin through the loader; it connects while it is created. */
  const fromEnv = async (env: Record<string, string>, user = 'cert') => {
    const s = (await createPlugin(plugin, {
      addresses: [server.url('tls_test', user)],
      env: { MICRO_STORE_MYSQL_CONNECT_TIMEOUT: '2s', MICRO_STORE_MYSQL_SWEEP_INTERVAL: '0', ...env },
      logger: recordingLogger(),
    })) as MySQLStore
    open.push(s)
    return s
  }
  const caAndCertificate = {
    MICRO_STORE_MYSQL_TLS_CA_FILE: certs.files.ca,
    MICRO_STORE_MYSQL_TLS_CERT_FILE: certs.files.clientCert,
    MICRO_STORE_MYSQL_TLS_KEY_FILE: certs.files.clientKey,
  }

  beforeAll(async () => {
    const { cert, key, ca } = certs.files
    server = await MariaDBServer.start({ tls: { cert, key, ca }, requireTls: true })
    // A user that must present a client certificate our CA signed.
    server.sql("CREATE USER 'cert'@'%' REQUIRE X509; GRANT ALL ON *.* TO 'cert'@'%'")
  }, 60_000)

  afterAll(async () => {
    for (const s of open) await s.close()
    await server?.stop()
  })

  it('verifies the server against tls.caFile and presents the client certificate, all from the environment', async () => {
    const s = await fromEnv(caAndCertificate)
    await s.write({ key: 'k', value: bytes('over tls') })
    expect(text((await s.read('k'))[0].value)).toBe('over tls')
  })

  it('each missing piece is a clear error at start-up: no CA, no client certificate, no TLS', async () => {
    const untrusted = await storeError(
      fromEnv({ ...caAndCertificate, MICRO_STORE_MYSQL_TLS_CA_FILE: '', MICRO_STORE_MYSQL_TLS: 'on' }),
      503,
    )
    expect(untrusted.detail).toMatch(/self-signed certificate/)
    const anonymous = await storeError(fromEnv({ MICRO_STORE_MYSQL_TLS_CA_FILE: certs.files.ca }), 401)
    expect(anonymous.detail).toMatch(/Access denied for user 'cert'/)
    // MariaDB answers a plain connection under require_secure_transport with "access denied".
    const plain = await storeError(fromEnv({}, 'root'), 401)
    expect(plain.detail).toMatch(/authentication failed at mysql:\/\/root@127\.0\.0\.1:\d+\/tls_test/)
  })
})
