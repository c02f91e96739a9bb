/**
 * store-redis against redis-servers of its own: credentials (password and ACL user), SCAN never
 * KEYS, crashes and restarts under a write loop, and TLS (a CA of our own, client certificates).
 */

import { recordingLogger, requireThat, sleep, testCertificates } from '@micro-ts/conformance/testing'
import { RedisServer } from '@micro-ts/conformance/testing/redis'
import { isMicroError, type MicroError } from '@micro-ts/core'
import { createPlugin } from '@micro-ts/core/plugin'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import plugin from '../src/index.js'
import { rawClient, storeError, text, useStores, utf8 } from './helpers.js'

const can = requireThat(RedisServer.available(), 'store-redis private servers: redis-server is not installed')
const store = useStores(() => ({}))

describe.runIf(can)('store-redis against its own redis-server (restarts, credentials, SCAN)', () => {
  describe('credentials', () => {
    let server: RedisServer
    beforeAll(async () => {
      server = await RedisServer.start({ args: ['--requirepass', 'p@ss:w/rd'] })
      const admin = rawClient(server.url(`:${encodeURIComponent('p@ss:w/rd')}`))
      await admin.connect()
      await admin.call('ACL', 'SETUSER', 'alice', 'on', '>alice-pw', '~*', '&*', '+@all')
      admin.disconnect()
    })
    afterAll(async () => {
      await server?.stop()
    })

    it('a password, or a user and password, come from the address URL', async () => {
      const withPassword = store({
        address: server.url(`:${encodeURIComponent('p@ss:w/rd')}`),
        keyPrefix: '',
      })
      await withPassword.write({ key: 'k', value: utf8('1') })
      const asAlice = store({ address: server.url('alice:alice-pw'), keyPrefix: '' })
      expect(text((await asAlice.read('k'))[0].value)).toBe('1')
    })

    it('a wrong or missing password is a 401 at once, the password masked', async () => {
      for (const auth of ['alice:wrong-pw', '']) {
        const s = store({ address: server.url(auth), connectTimeout: 5000 })
        const started = Date.now()
        const e = await storeError(s.read('k'), 401)
        expect(e.detail).not.toContain('wrong-pw')
        expect(Date.now() - started).toBeLessThan(4000)
      }
    })
  })

  describe('SCAN, never KEYS', () => {
    let server: RedisServer
    beforeAll(async () => {
      server = await RedisServer.start()
    })
    afterAll(async () => {
      await server?.stop()
    })

    it('prefix and suffix reads and lists use SCAN and never KEYS', async () => {
      const s = store({ address: server.url() })
      for (let i = 0; i < 10; i++) await s.write({ key: `k${i}`, value: utf8('x') })
      const r = await store.raw(server.url())
      await r.config('RESETSTAT')
      await s.list()
      await s.list({ prefix: 'k', suffix: '1', limit: 1 })
      await s.read('k', { prefix: true })
      await s.read('1', { suffix: true })
      const stats = (await r.info('commandstats')) as string
      expect(stats).toMatch(/cmdstat_scan:calls=\d+/)
      expect(stats).not.toMatch(/cmdstat_keys:/)
    })
  })

  describe('restarts', () => {
    let server: RedisServer
    beforeAll(async () => {
      // fsync on every write: what Redis acknowledged survives SIGKILL.
      server = await RedisServer.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
    })
    afterAll(async () => {
      await server?.stop()
    })

    it('the same store works again after the server is killed and restarted', async () => {
      const s = store({ address: server.url(), connectTimeout: 10_000 })
      await s.write({ key: 'before', value: utf8('1') })
      await server.kill()
      await server.start()
      expect(text((await s.read('before'))[0].value)).toBe('1')
      await s.write({ key: 'after', value: utf8('2') })
      expect(await s.list()).toEqual(['after', 'before'])
    })

    it('while the server is down calls fail with a 503 within the connect timeout, then recover by themselves', async () => {
      const s = store({ address: server.url(), connectTimeout: 800 })
      await s.write({ key: 'k', value: utf8('1') })
      await server.kill()
      try {
        const started = Date.now()
        await storeError(s.read('k'), 503)
        await storeError(s.list(), 503)
        expect(Date.now() - started).toBeLessThan(2 * (800 + 1000))
      } finally {
        await server.start()
      }
      expect(text((await s.read('k'))[0].value)).toBe('1')
    })

    it('a call made during a short outage waits for the server and succeeds', async () => {
      const s = store({ address: server.url(), connectTimeout: 10_000 })
      await s.write({ key: 'k', value: utf8('1') })
      await server.kill()
      const pending = s.write({ key: 'during', value: utf8('2') })
      await sleep(300)
      await server.start()
      await pending
      expect(text((await s.read('during'))[0].value)).toBe('2')
    })

    it('a steady write loop survives a crash and restart: every acknowledged write is there afterwards', async () => {
      const s = store({ address: server.url(), connectTimeout: 10_000 })
      const acknowledged: string[] = []
      const failures: unknown[] = []
      let stop = false
      const loop = (async () => {
        for (let i = 0; !stop; i++) {
          const key = `k${String(i).padStart(5, '0')}`
          try {
            await s.write({ key, value: utf8(key) }, { table: 'loop' })
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
      const stored = new Set(await s.list({ table: 'loop' }))
      expect(acknowledged.filter((k) => !stored.has(k))).toEqual([])
    }, 30_000)
  })
})

describe.runIf(can)('store-redis over TLS (a TLS-only server that verifies client certificates)', () => {
  const certs = testCertificates()
  let server: RedisServer
  const fromEnv = async (env: Record<string, string>) =>
    store.track(await createPlugin(plugin, { addresses: [server.url()], env, logger: recordingLogger() }))

  beforeAll(async () => {
    const { cert, key, ca } = certs.files
    server = await RedisServer.start({ tls: { cert, key, verifyCa: ca } })
  })

  afterAll(async () => {
    await server?.stop()
  })

  it('verifies the server against tls.caFile and presents the client certificate, all from the environment', async () => {
    expect(server.url()).toMatch(/^rediss:\/\//)
    const s = await fromEnv({
      MICRO_STORE_REDIS_TLS_CA_FILE: certs.files.ca,
      MICRO_STORE_REDIS_TLS_CERT_FILE: certs.files.clientCert,
      MICRO_STORE_REDIS_TLS_KEY_FILE: certs.files.clientKey,
    })
    await s.write({ key: 'k', value: utf8('over tls') })
    expect(text((await s.read('k'))[0].value)).toBe('over tls')
  })

  it('without our CA the server is not trusted, without a client certificate the server refuses: 503s that say why', async () => {
    const untrusted = await fromEnv({
      MICRO_STORE_REDIS_TLS_CERT_FILE: certs.files.clientCert,
      MICRO_STORE_REDIS_TLS_KEY_FILE: certs.files.clientKey,
      MICRO_STORE_REDIS_CONNECT_TIMEOUT: '1s',
    })
    expect((await storeError(untrusted.read('k'), 503)).detail).toMatch(/self-signed certificate/)
    const anonymous = await fromEnv({
      MICRO_STORE_REDIS_TLS_CA_FILE: certs.files.ca,
      MICRO_STORE_REDIS_CONNECT_TIMEOUT: '1s',
    })
    await storeError(anonymous.read('k'), 503)
  })
})
