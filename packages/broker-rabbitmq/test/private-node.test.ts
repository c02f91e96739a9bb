/**
 * Against a private RabbitMQ node of this file's own (its own name, ports and data directory):
 * a small `max_message_size`, an AMQPS listener with the test certificates, and an application
 * stop and start under a steady publish loop, none of which may touch the shared server.
 */
import {
  eventually,
  expectMicroError,
  recordingLogger,
  requireThat,
  sleep,
  testCertificates,
  uniqueName,
} from '@micro-ts/conformance/testing'
import { RabbitMQServer } from '@micro-ts/conformance/testing/rabbitmq'
import { type BrokerEvent, MicroError } from '@micro-ts/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bytes, testBrokers, text } from './helpers.js'

const certs = testCertificates()

/** The node's `max_message_size`: small, so that 8 MB is over it. */
const MAX_MESSAGE_SIZE = 4 * 1024 * 1024

const available = requireThat(
  RabbitMQServer.available(),
  'rabbitmq-server and rabbitmqctl are not installed: cannot start a private RabbitMQ node',
)

describe.runIf(available)('a private RabbitMQ node', () => {
  let server: RabbitMQServer
  const broker = testBrokers(() => server.url)

  beforeAll(async () => {
    server = await RabbitMQServer.start({
      maxMessageSize: MAX_MESSAGE_SIZE,
      tls: { cert: certs.files.cert, key: certs.files.key, ca: certs.files.ca },
    })
  }, 180_000)

  afterAll(async () => {
    await server?.stop()
  }, 60_000)

  describe("max_message_size (this node's: 4 MiB)", () => {
    it('an 8 MB publish rejects with a 413; the publishes in flight beside it are not blamed, and arrive', async () => {
      const b = broker()
      await b.connect()
      const topic = uniqueName('too-big')
      const got: string[] = []
      await b.subscribe(topic, (e) => {
        got.push(e.message.body.byteLength > 1024 ? `big ${e.message.body.byteLength}` : text(e.message.body))
      })
      // Not awaited one by one: RabbitMQ closes the publish channel for the big one, with the
      // small ones in flight on it.
      const outcomes = await Promise.allSettled([
        b.publish(topic, { headers: {}, body: bytes('before') }),
        b.publish(topic, { headers: {}, body: new Uint8Array(8 * 1024 * 1024) }),
        b.publish(topic, { headers: {}, body: bytes('after-1') }),
        b.publish(topic, { headers: {}, body: bytes('after-2') }),
      ])
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
      const err = (outcomes[1] as PromiseRejectedResult).reason as MicroError
      expect(err).toBeInstanceOf(MicroError)
      expect(err.code).toBe(413)
      expect(err.id).toBe('go.micro.broker')
      expect(err.detail).toMatch(/larger than configured max size 4194304/)
      // At least once: one RabbitMQ had routed but not yet confirmed when it closed the channel
      // is sent again, so it may arrive twice; none is missing.
      await eventually(
        () => expect([...new Set(got)].sort()).toEqual(['after-1', 'after-2', 'before']),
        10_000,
      )
      // A message at the limit still goes through.
      await b.publish(topic, { headers: {}, body: new Uint8Array(MAX_MESSAGE_SIZE) })
      await eventually(() => expect(got).toContain(`big ${MAX_MESSAGE_SIZE}`), 10_000)
    })

    it("the next oversized publish is refused at once with the server's limit it learned", async () => {
      const b = broker()
      await b.connect()
      const topic = uniqueName('learned')
      await expectMicroError(
        b.publish(topic, { headers: {}, body: new Uint8Array(MAX_MESSAGE_SIZE + 1) }),
        413,
      )
      const again = await expectMicroError(
        b.publish(topic, { headers: {}, body: new Uint8Array(8 * 1024 * 1024) }),
        413,
      )
      expect(again.detail).toMatch(/over the limit of 4194304 bytes \(the server's max_message_size\)/)
    })
  })

  describe('TLS (amqps)', () => {
    const tlsAddress = () => `amqps://guest:guest@127.0.0.1:${server.tlsPort}`

    it('connects with the CA from a file, and with a client certificate, and carries messages', async () => {
      for (const tls of [
        { caFile: certs.files.ca },
        { caFile: certs.files.ca, certFile: certs.files.clientCert, keyFile: certs.files.clientKey },
      ]) {
        const b = broker({ address: tlsAddress(), tls })
        await b.connect()
        const topic = uniqueName('tls')
        const got: string[] = []
        await b.subscribe(topic, (e) => {
          got.push(text(e.message.body))
        })
        await b.publish(topic, { headers: {}, body: bytes('over tls') })
        await eventually(() => expect(got).toEqual(['over tls']), 10_000)
        await b.disconnect()
      }
    })

    it('tls on a plain amqp:// address switches it to AMQPS on that port', async () => {
      const b = broker({
        address: `amqp://guest:guest@127.0.0.1:${server.tlsPort}`,
        tls: { caFile: certs.files.ca },
      })
      await b.connect()
      expect(b.address()).toMatch(/^amqps:/)
    })

    it('a server certificate the CA does not vouch for is a 503, not a connection', async () => {
      // The system's roots do not know the test CA.
      const err = await expectMicroError(
        broker({ address: tlsAddress(), connectTimeout: 5000 }).connect(),
        503,
      )
      expect(err.detail).toMatch(/certificate/i)
    })
  })

  describe('an application stop and start', () => {
    it('under a steady publish loop, every confirmed message is delivered', async () => {
      const logger = recordingLogger()
      const b = broker({ publishTimeout: 60_000, reconnectMaxWait: 1000, logger })
      await b.connect()
      const topic = uniqueName('restart')
      const delivered = new Set<string>()
      await b.subscribe(
        topic,
        (e: BrokerEvent) => {
          delivered.add(text(e.message.body))
        },
        { queue: uniqueName('restart-group') },
      )
      const confirmed: string[] = []
      const failed: unknown[] = []
      let stop = false
      let n = 0
      const loop = (async () => {
        while (!stop) {
          const body = `m-${n++}`
          try {
            await b.publish(topic, { headers: {}, body: bytes(body) })
            confirmed.push(body)
          } catch (err) {
            failed.push(err)
          }
          await sleep(5)
        }
      })()
      try {
        await eventually(() => expect(confirmed.length).toBeGreaterThan(50), 10_000)
        await server.stopApp()
        await sleep(500)
      } finally {
        await server.startApp()
      }
      const before = confirmed.length
      await eventually(() => expect(confirmed.length).toBeGreaterThan(before + 50), 30_000)
      stop = true
      await loop
      for (const err of failed) expect(err).toBeInstanceOf(MicroError)
      await eventually(() => expect(confirmed.filter((m) => !delivered.has(m))).toEqual([]), 20_000)
      expect(delivered.size).toBeGreaterThan(100)
      // The connection really dropped and came back.
      expect(logger.messages()).toContain('rabbitmq connection lost; reconnecting')
      expect(logger.messages().filter((m) => m === 'rabbitmq connected').length).toBeGreaterThanOrEqual(2)
    }, 180_000)
  })
})
