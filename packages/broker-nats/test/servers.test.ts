/**
 * Private nats-server processes (free loopback ports, own store directories, killed and
 * restarted by PID): credentials, TLS, a server without JetStream, restarts with and without
 * the server's data, and nothing acknowledged lost across a restart.
 */
import { readFileSync } from 'node:fs'
import { eventually, expectMicroError, requireThat } from '@micro-ts/conformance/testing'
import { NatsServer, type NatsServerOptions } from '@micro-ts/conformance/testing/nats'
import { createPlugin } from '@micro-ts/core/plugin'
import { afterEach, describe, expect, it } from 'vitest'
import plugin, { createNatsBroker, type NatsBroker, type NatsBrokerOptions } from '../src/index.js'
import { msg, pause, text, tlsFile } from './helpers.js'

const binary = requireThat(
  NatsServer.available(),
  'the nats-server binary is not installed (scripts/backends.sh nats)',
)

/** The fixture server certificate; clients must present one signed by the fixture CA. */
const serverTls = { cert: tlsFile('server.pem'), key: tlsFile('server-key.pem'), verifyCa: tlsFile('ca.pem') }

describe.runIf(binary)('private servers: restarts, credentials, TLS, JetStream missing', () => {
  const servers: NatsServer[] = []
  const brokers: NatsBroker[] = []
  afterEach(async () => {
    for (const b of brokers.splice(0)) await b.disconnect()
    for (const s of servers.splice(0)) await s.stop()
  })
  async function server(options: NatsServerOptions = {}): Promise<NatsServer> {
    const s = await NatsServer.start(options)
    servers.push(s)
    return s
  }
  function broker(options: NatsBrokerOptions): NatsBroker {
    const b = createNatsBroker({ reconnectWait: 100, ...options })
    brokers.push(b)
    return b
  }

  it('takes user:pass from the address URL; wrong credentials are a 401', async () => {
    const s = await server({ user: 'micro', pass: 'p@ss', jetstream: false })
    const ok = broker({ addresses: [`nats://micro:p%40ss@${s.address}`] })
    await ok.connect()
    const got: string[] = []
    await ok.subscribe('auth.t', (e) => void got.push(text(e)))
    await ok.publish('auth.t', msg('in'))
    await eventually(() => expect(got).toHaveLength(1), 10_000)
    const bad = broker({ addresses: [`nats://micro:wrong@${s.address}`] })
    expect((await expectMicroError(bad.connect())).code).toBe(401)
    const none = broker({ addresses: [s.address] })
    expect((await expectMicroError(none.connect())).code).toBe(401)
  })

  it('takes the credentials from MICRO_BROKER_NATS_USER / _PASS through the plugin loader', async () => {
    const s = await server({ user: 'micro', pass: 'p@ss', jetstream: false })
    const env = {
      MICRO_BROKER_NATS_USER: 'micro',
      MICRO_BROKER_NATS_PASS: 'p@ss',
      MICRO_BROKER_NATS_RECONNECT_WAIT: '100ms',
    }
    const ok = (await createPlugin(plugin, { addresses: [s.address], env })) as NatsBroker
    brokers.push(ok)
    await ok.connect()
    const wrong = (await createPlugin(plugin, {
      addresses: [s.address],
      env: { ...env, MICRO_BROKER_NATS_PASS: 'nope' },
    })) as NatsBroker
    brokers.push(wrong)
    await expectMicroError(wrong.connect(), 401)
  })

  it('TLS: verifies the server with the given CA and presents a client certificate', async () => {
    const s = await server({ tls: serverTls, jetstream: false })
    const ok = broker({
      addresses: [`tls://${s.address}`],
      tls: { caFile: tlsFile('ca.pem'), certFile: tlsFile('client.pem'), keyFile: tlsFile('client-key.pem') },
    })
    await ok.connect()
    const got: string[] = []
    await ok.subscribe('tls.t', (e) => void got.push(text(e)))
    await ok.publish('tls.t', msg('secret'))
    await eventually(() => expect(got).toHaveLength(1), 10_000)
    const noClientCert = broker({
      addresses: [s.address],
      tls: { caFile: tlsFile('ca.pem') },
      connectTimeout: 2000,
    })
    expect([503, 408]).toContain((await expectMicroError(noClientCert.connect())).code)
    const unknownCa = broker({
      addresses: [s.address],
      tls: { certFile: tlsFile('client.pem'), keyFile: tlsFile('client-key.pem') },
      connectTimeout: 2000,
    })
    expect([503, 408]).toContain((await expectMicroError(unknownCa.connect())).code)
  })

  it('TLS material from MICRO_BROKER_NATS_TLS_* through the plugin loader', async () => {
    const s = await server({ tls: serverTls, jetstream: false })
    const env = {
      MICRO_BROKER_NATS_TLS_CA_FILE: tlsFile('ca.pem'),
      MICRO_BROKER_NATS_TLS_CERT_FILE: tlsFile('client.pem'),
      MICRO_BROKER_NATS_TLS_KEY: readFileSync(tlsFile('client-key.pem'), 'utf8'),
    }
    const b = (await createPlugin(plugin, { addresses: [s.url], env })) as NatsBroker
    brokers.push(b)
    await b.connect()
    const got: string[] = []
    await b.subscribe('tls.env', (e) => void got.push(text(e)))
    await b.publish('tls.env', msg('over tls'))
    await eventually(() => expect(got).toEqual(['over tls']), 10_000)
  })

  it('ping: a 503 before connect, while reconnecting (at once) and after disconnect; answers while connected', async () => {
    const s = await server({ jetstream: false })
    // A ping that waited for the server to come back would outlast the test.
    const b = broker({ addresses: [s.address], connectTimeout: 60_000 })
    expect((await expectMicroError(b.ping(), 503)).id).toBe('go.micro.broker')
    await b.connect()
    await b.ping()
    await s.kill()
    await eventually(async () => {
      expect((await expectMicroError(b.ping(), 503)).detail).toMatch(/^nats broker: ping: reconnecting to /)
    }, 10_000)
    await s.start()
    await eventually(() => b.ping(), 15_000)
    await b.disconnect()
    await expectMicroError(b.ping(), 503)
  })

  it('ping: a server that stops answering is a 503 after connectTimeout; a fired signal gives up with its 499/408', async () => {
    const s = await server({ jetstream: false })
    const b = broker({ addresses: [s.address], connectTimeout: 300 })
    await b.connect()
    await b.ping()
    // SIGSTOP by PID, waiting until every thread has stopped: the connection stays open and nothing answers.
    try {
      await s.suspend()
      const silent = await expectMicroError(b.ping(), 503)
      expect(silent.detail).toMatch(/^nats broker: ping: NATS at .* did not answer: no answer within 300ms/)
      const cancel = new AbortController()
      const pending = b.ping(cancel.signal)
      cancel.abort()
      await expectMicroError(pending, 499)
      await expectMicroError(b.ping(AbortSignal.timeout(50)), 408)
    } finally {
      s.resume()
    }
    await eventually(() => b.ping(), 10_000)
  })

  it('JetStream mode against a server without JetStream is a clear 503', async () => {
    const s = await server({ jetstream: false })
    const b = broker({ addresses: [s.address], jetstream: true })
    const err = await expectMicroError(b.connect())
    expect(err.code).toBe(503)
    expect(err.detail).toMatch(/JetStream is not available/)
  })

  it('core NATS: reconnects and resubscribes after a server restart', async () => {
    const s = await server({ jetstream: false })
    const b = broker({ addresses: [s.address] })
    await b.connect()
    const got: string[] = []
    await b.subscribe('restart.core', (e) => void got.push(text(e)), { queue: 'q' })
    await b.publish('restart.core', msg('before'))
    await eventually(() => expect(got.includes('before')).toBe(true), 10_000)
    await s.restart(500)
    // After the reconnect the subscription is back: keep publishing until one arrives.
    await eventually(async () => {
      await b.publish('restart.core', msg('after'))
      await pause(100)
      expect(got).toContain('after')
    }, 15_000)
    expect(b.address()).toBe(`nats://${s.address}`)
  })

  it('JetStream: nothing acknowledged is lost across a server restart under a steady publish loop', async () => {
    const s = await server()
    const pub = broker({ addresses: [s.address], jetstream: { nakDelay: 50 } })
    const sub = broker({ addresses: [s.address], jetstream: { nakDelay: 50 } })
    await pub.connect()
    await sub.connect()
    const received = new Set<string>()
    let failOnce = true
    await sub.subscribe(
      'orders.created',
      (e) => {
        // One handler failure on the way: redelivery must cover it too.
        if (failOnce && text(e) === '5') {
          failOnce = false
          throw new Error('transient')
        }
        received.add(text(e))
      },
      { queue: 'billing' },
    )
    const acknowledged: string[] = []
    const failed: string[] = []
    let restarted = false
    const loop = (async () => {
      for (let i = 0; i < 60; i++) {
        try {
          await pub.publish('orders.created', msg(String(i)))
          acknowledged.push(String(i))
        } catch {
          failed.push(String(i))
        }
        await pause(25)
      }
    })()
    await eventually(() => expect(acknowledged.length).toBeGreaterThanOrEqual(15), 10_000)
    await s.restart(700)
    restarted = true
    await loop
    expect(restarted).toBe(true)
    // Publishes ride out the restart (they retry until publishTimeout): all of them were stored.
    expect(failed).toEqual([])
    await eventually(() => expect(acknowledged.filter((id) => !received.has(id))).toEqual([]), 30_000)
    expect(received.size).toBe(60)
  })

  it('JetStream: a subscriber recreates its consumer when the server comes back empty', async () => {
    const s = await server()
    const b = broker({ addresses: [s.address], jetstream: { nakDelay: 50 } })
    await b.connect()
    const got: string[] = []
    await b.subscribe('wiped.t', (e) => void got.push(text(e)), { queue: 'w' })
    await b.publish('wiped.t', msg('before'))
    await eventually(() => expect(got.includes('before')).toBe(true), 10_000)
    await s.wipe()
    await eventually(async () => {
      await b.publish('wiped.t', msg('after')).catch(() => {})
      await pause(200)
      expect(got).toContain('after')
    }, 30_000)
  })
})
