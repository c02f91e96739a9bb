/**
 * store-postgres against PostgreSQL servers of its own: credentials, privileges, the pool limit,
 * restarts and crashes under a write loop, and TLS (a CA of our own, client certificates).
 */
import { recordingLogger, requireThat, sleep, testCertificates } from '@micro-ts/conformance/testing'
import { PostgresServer } from '@micro-ts/conformance/testing/postgres'
import { isMicroError, type MicroError } from '@micro-ts/core'
import { createPlugin } from '@micro-ts/core/plugin'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import plugin from '../src/index.js'
import { rawQuery, storeError, text, useStores, utf8 } from './helpers.js'

const why = PostgresServer.unavailable()
const can = requireThat(why === undefined, `store-postgres private servers: ${why}`)
const store = useStores({})

describe.runIf(can)('store-postgres against its own PostgreSQL (credentials, restarts)', () => {
  let server: PostgresServer

  beforeAll(async () => {
    server = await PostgresServer.start()
    await rawQuery(server.url(), `CREATE ROLE alice LOGIN PASSWORD 'p@ss:w/rd %1'`)
    await rawQuery(server.url(), 'GRANT CREATE ON DATABASE postgres TO alice')
  }, 60_000)

  afterAll(async () => {
    await server?.stop()
  })

  it('credentials come from the address URL; a wrong password is a 401 at once', async () => {
    const good = store({ address: server.url('alice', 'p@ss:w/rd %1'), database: 'alices' })
    await good.write({ key: 'k', value: utf8('x') })
    const [{ owner }] = await rawQuery<{ owner: string }>(
      server.url(),
      `SELECT nspowner::regrole::text AS owner FROM pg_namespace WHERE nspname = 'alices'`,
    )
    expect(owner).toBe('alice')

    const bad = store({ address: server.url('alice', 'wrong'), connectTimeout: 5000 })
    const started = Date.now()
    const e = await storeError(bad.read('k'), 401)
    expect(e.detail).toContain('password authentication failed')
    expect(e.detail).not.toContain(':wrong@')
    expect(Date.now() - started).toBeLessThan(4000)
  })

  it('a role granted only the table (no CREATE on the database) can use a table that exists', async () => {
    const admin = store({ address: server.url(), database: 'granted' })
    await admin.write({ key: 'k', value: utf8('1') })
    await rawQuery(server.url(), `CREATE ROLE bob LOGIN PASSWORD 'bob-pw'`)
    await rawQuery(server.url(), 'GRANT USAGE ON SCHEMA granted TO bob')
    await rawQuery(server.url(), 'GRANT SELECT, INSERT, UPDATE, DELETE ON granted.micro TO bob')
    const bob = store({ address: server.url('bob', 'bob-pw'), database: 'granted' })
    expect(text((await bob.read('k'))[0].value)).toBe('1')
    await bob.write({ key: 'k2', value: utf8('2') }, { ttl: 60_000 })
    expect(await bob.list()).toEqual(['k', 'k2'])
    // A table bob may not create is a clear error, not a hang.
    const denied = await storeError(bob.write({ key: 'k', value: utf8('x') }, { table: 'other' }), 403)
    expect(denied.detail).toContain('permission denied')
  })

  it('the pool never opens more than maxConnections connections, set from the environment', async () => {
    const s = store.track(
      await createPlugin(plugin, {
        addresses: [server.url()],
        env: { MICRO_STORE_POSTGRES_MAX_CONNECTIONS: '3', MICRO_STORE_POSTGRES_DATABASE: 'pool' },
        logger: recordingLogger(),
      }),
    )
    await Promise.all(Array.from({ length: 60 }, (_, i) => s.write({ key: `k${i}`, value: utf8('x') })))
    const [{ n }] = await rawQuery<{ n: number }>(
      server.url(),
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'micro-ts store'`,
    )
    expect(n).toBeGreaterThan(0)
    expect(n).toBeLessThanOrEqual(3)
  })

  it('the same store works again after the server restarts (its pooled connections died)', async () => {
    const s = store({ address: server.url(), database: 'restart', connectTimeout: 10_000 })
    await s.write({ key: 'before', value: utf8('1') })
    await server.signal('SIGINT') // a fast shutdown: clients are told and disconnected
    await server.start()
    expect(text((await s.read('before'))[0].value)).toBe('1')
    await s.write({ key: 'after', value: utf8('2') })
    expect(await s.list()).toEqual(['after', 'before'])
  })

  it('while the server is down calls fail with a 503 within the connect timeout, then recover by themselves', async () => {
    const s = store({ address: server.url(), database: 'outage', connectTimeout: 800 })
    await s.write({ key: 'k', value: utf8('1') })
    await server.kill()
    try {
      const started = Date.now()
      await storeError(s.read('k'), 503)
      expect(Date.now() - started).toBeLessThan(800 + 1500)
    } finally {
      await server.start()
    }
    expect(text((await s.read('k'))[0].value)).toBe('1')
  })

  it('a steady write loop survives a crash and restart: every acknowledged write is there afterwards', async () => {
    const s = store({ address: server.url(), database: 'loop', connectTimeout: 15_000 })
    const acknowledged: string[] = []
    const failures: unknown[] = []
    let stop = false
    const loop = (async () => {
      for (let i = 0; !stop; i++) {
        const key = `k${String(i).padStart(5, '0')}`
        try {
          await s.write({ key, value: utf8(key) })
          acknowledged.push(key)
        } catch (err) {
          failures.push(err)
        }
      }
    })()
    await sleep(300)
    await server.restart(500)
    const resumedAt = acknowledged.length
    await sleep(500)
    stop = true
    await loop
    expect(acknowledged.length).toBeGreaterThan(resumedAt)
    for (const f of failures) expect(isMicroError(f) && (f as MicroError).code, String(f)).toBe(503)
    const stored = new Set(await s.list())
    expect(acknowledged.filter((k) => !stored.has(k))).toEqual([])
  }, 60_000)
})

describe.runIf(can)('store-postgres over TLS (a server that requires TLS and client certificates)', () => {
  const certs = testCertificates()
  let server: PostgresServer
  /** As the superuser over the server's Unix socket (TCP requires a client certificate). */
  const admin = (sql: string) =>
    rawQuery(
      `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(server.dir)}&port=${server.port}`,
      sql,
    )
  const tlsEnv = {
    MICRO_STORE_POSTGRES_TLS_CA_FILE: certs.files.ca,
    MICRO_STORE_POSTGRES_TLS_CERT_FILE: certs.files.clientCert,
    MICRO_STORE_POSTGRES_TLS_KEY_FILE: certs.files.clientKey,
  }
  const fromEnv = async (env: Record<string, string>) =>
    store.track(await createPlugin(plugin, { addresses: [server.url()], env, logger: recordingLogger() }))

  beforeAll(async () => {
    const { cert, key, ca } = certs.files
    server = await PostgresServer.start({ tls: { cert, key, verifyCa: ca }, requireTls: true })
  }, 60_000)

  afterAll(async () => {
    await server?.stop()
  })

  it('verifies the server against tls.caFile and presents the client certificate, all from the environment', async () => {
    const s = await fromEnv(tlsEnv)
    await s.write({ key: 'k', value: utf8('over tls') })
    expect(text((await s.read('k'))[0].value)).toBe('over tls')
    const rows = await admin(
      `SELECT s.ssl, s.client_dn FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
       WHERE a.application_name = 'micro-ts store'`,
    )
    expect(rows.length).toBeGreaterThan(0)
    for (const row of rows) expect(row).toEqual({ ssl: true, client_dn: '/CN=micro-test-client' })
  })

  it('without our CA the server is not trusted; without a client certificate the server refuses', async () => {
    const untrusted = await fromEnv({
      MICRO_STORE_POSTGRES_TLS: 'true',
      MICRO_STORE_POSTGRES_TLS_CERT_FILE: certs.files.clientCert,
      MICRO_STORE_POSTGRES_TLS_KEY_FILE: certs.files.clientKey,
      MICRO_STORE_POSTGRES_CONNECT_TIMEOUT: '1s',
    })
    const e1 = await storeError(untrusted.read('k'), 503)
    expect(e1.detail).toMatch(
      /self-signed certificate.*\(postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres\)/,
    )
    const anonymous = await fromEnv({ MICRO_STORE_POSTGRES_TLS_CA_FILE: certs.files.ca })
    const e2 = await storeError(anonymous.read('k'), 401)
    expect(e2.detail).toMatch(/certificate/)
    const plain = await fromEnv({})
    const e3 = await storeError(plain.read('k'), 401)
    expect(e3.detail).toMatch(/no encryption/)
  })
})
