/**
 * The broker against the shared RabbitMQ: go-micro's layout in both directions, errors, and
 * outages through a proxy the test cuts (RabbitMQ itself untouched).
 */
import { createHash, randomBytes } from 'node:crypto'
import {
  deadAddress,
  expectMicroError,
  recordingLogger,
  silentServer,
  sleep,
  uniqueName,
} from '@micro-ts/conformance/testing'
import { rabbitmqctl } from '@micro-ts/conformance/testing/rabbitmq'
import type { BrokerEvent } from '@micro-ts/core'
import { afterEach, describe, expect, it } from 'vitest'
import {
  bytes,
  CuttableProxy,
  rawPublish,
  sharedRabbitMQ,
  testBrokers,
  testQueues,
  text,
  withChannel,
} from './helpers.js'

const reachable = await sharedRabbitMQ()
const unique = (label: string) => uniqueName(`rmq-${label}`)
const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
/** Durable queues the tests create, deleted at the end. */
const queues = testQueues(() => reachable)
const group = (label: string) => queues.group(unique(label))
const broker = testBrokers()

describe.runIf(reachable)('rabbitmq broker', () => {
  describe("go-micro's layout", () => {
    it('publishes to the topic exchange `micro` with the topic as routing key, body as is, headers as AMQP headers, persistent', async () => {
      const b = broker()
      await b.connect()
      const topic = unique('layout')
      const got = await withChannel(async (ch) => {
        const { queue } = await ch.assertQueue('', { exclusive: true })
        await ch.bindQueue(queue, 'micro', topic)
        await b.publish(topic, {
          headers: { 'Content-Type': 'application/json', 'Micro-Topic': topic },
          body: bytes('{"a":1}'),
        })
        for (let i = 0; i < 50; i++) {
          const m = await ch.get(queue, { noAck: true })
          if (m) return m
          await sleep(50)
        }
        return false
      })
      expect(got).not.toBe(false)
      if (!got) return
      expect(got.fields.exchange).toBe('micro')
      expect(got.fields.routingKey).toBe(topic)
      expect(got.content.toString()).toBe('{"a":1}')
      expect(got.properties.headers).toMatchObject({
        'Content-Type': 'application/json',
        'Micro-Topic': topic,
      })
      expect(got.properties.deliveryMode).toBe(2)
    })

    it('delivers what a go-micro publisher sends: routing key = topic, string headers, raw body', async () => {
      const b = broker()
      await b.connect()
      const topic = unique('from-go')
      const events: BrokerEvent[] = []
      await b.subscribe(topic, (e) => {
        events.push(e)
      })
      // What go-micro's rabbitmq broker does: Publish(exchange, topic, Publishing{Headers, Body}).
      await rawPublish('micro', topic, Buffer.from([0, 1, 2, 255]), {
        headers: { 'Micro-Topic': topic, 'Content-Type': 'application/protobuf', n: 5 },
      })
      await expect.poll(() => events.length).toBe(1)
      expect(events[0].topic).toBe(topic)
      expect([...events[0].message.body]).toEqual([0, 1, 2, 255])
      expect(events[0].message.headers).toEqual({
        'Micro-Topic': topic,
        'Content-Type': 'application/protobuf',
        n: '5',
      })
    })

    it('a queue group is one durable queue named after the group; a plain subscriber gets an exclusive auto-delete queue', async () => {
      const b = broker()
      await b.connect()
      const topic = unique('queues')
      const name = group('workers')
      const sub = await b.subscribe(topic, () => {}, { queue: name })
      const plain = await b.subscribe(topic, () => {})
      const bindings = async () => (await rabbitmqctlBindings()).filter((row) => row[2] === topic)
      // Both queues are bound to the exchange with the topic as routing key.
      expect((await bindings()).map((row) => row[0])).toEqual(['micro', 'micro'])
      expect((await bindings()).map((row) => row[1])).toContain(name)
      await sub.unsubscribe()
      await plain.unsubscribe()
      // The group's queue outlives its members (and keeps their messages); it is durable.
      const q = await withChannel((ch) => ch.checkQueue(name))
      expect(q.queue).toBe(name)
      const listed = (await rabbitmqctlQueues()).find((row) => row[0] === name)
      expect(listed?.slice(1)).toEqual(['true', 'false', 'false'])
      // The plain subscriber's queue went with it.
      expect((await bindings()).map((row) => row[1])).toEqual([name])
    })

    it('a subscription to `a.*` gets `a.b`, with the real topic on the event', async () => {
      const b = broker()
      await b.connect()
      const base = unique('wild')
      const topics: string[] = []
      await b.subscribe(`${base}.*`, (e) => {
        topics.push(e.topic)
      })
      await b.publish(`${base}.one`, { headers: {}, body: bytes('x') })
      await b.publish(`${base}.one.two`, { headers: {}, body: bytes('x') })
      await b.publish(`${base}.two`, { headers: {}, body: bytes('x') })
      await expect.poll(() => topics.length).toBe(2)
      await sleep(200)
      expect(topics).toEqual([`${base}.one`, `${base}.two`])
    })

    it('one queue group on two topics: each handler gets only its own topic', async () => {
      const b = broker()
      await b.connect()
      const name = group('shared-name')
      const a = unique('topic-a')
      const c = unique('topic-c')
      const got: string[] = []
      await b.subscribe(
        a,
        (e) => {
          got.push(`a:${e.topic === a}:${text(e.message.body)}`)
        },
        { queue: name },
      )
      await b.subscribe(
        c,
        (e) => {
          got.push(`c:${e.topic === c}:${text(e.message.body)}`)
        },
        { queue: name },
      )
      for (let i = 0; i < 5; i++) {
        await b.publish(a, { headers: {}, body: bytes(`${i}`) })
        await b.publish(c, { headers: {}, body: bytes(`${i}`) })
      }
      await expect.poll(() => got.length).toBe(10)
      expect(got.filter((g) => g.startsWith('a:true:'))).toHaveLength(5)
      expect(got.filter((g) => g.startsWith('c:true:'))).toHaveLength(5)
    })

    it('a backlog waiting in a group queue is delivered and acknowledged when a member joins', async () => {
      const b = broker({ prefetch: 50 })
      await b.connect()
      const topic = unique('backlog')
      const name = group('backlog')
      const first = await b.subscribe(topic, () => {}, { queue: name })
      await first.unsubscribe()
      for (let i = 0; i < 300; i++) await b.publish(topic, { headers: {}, body: bytes(`b-${i}`) })
      const got = new Set<string>()
      await b.subscribe(
        topic,
        (e) => {
          got.add(text(e.message.body))
        },
        { queue: name },
      )
      await expect.poll(() => got.size, { timeout: 10_000 }).toBe(300)
      // Every delivery was acknowledged: nothing waits in the queue, nothing is held unacked.
      await expect
        .poll(async () =>
          (await rabbitmqctl(['list_queues', '-q', '--no-table-headers', 'name', 'messages']))
            .split('\n')
            .find((line) => line.startsWith(`${name}\t`)),
        )
        .toBe(`${name}\t0`)
    })

    it('joins a group queue go-micro declared (non-durable, auto-delete) as it is', async () => {
      const name = group('go-declared')
      // What go-micro's subscriber declares for Queue(name) without DurableQueue().
      await withChannel((ch) => ch.assertQueue(name, { durable: false, autoDelete: true }))
      const b = broker()
      await b.connect()
      const topic = unique('go-group')
      const got: string[] = []
      await b.subscribe(
        topic,
        (e) => {
          got.push(text(e.message.body))
        },
        { queue: name },
      )
      await b.publish(topic, { headers: {}, body: bytes('joined') })
      await expect.poll(() => got).toEqual(['joined'])
      expect((await rabbitmqctlQueues()).find((row) => row[0] === name)?.slice(1)).toEqual([
        'false',
        'true',
        'false',
      ])
    })

    it('a subscription whose queue is deleted behind its back comes back by itself', async () => {
      const b = broker({ reconnectWait: 50, reconnectMaxWait: 200 })
      await b.connect()
      const topic = unique('deleted-queue')
      const name = group('deleted-queue')
      const got: string[] = []
      await b.subscribe(
        topic,
        (e) => {
          got.push(text(e.message.body))
        },
        { queue: name },
      )
      await withChannel((ch) => ch.deleteQueue(name))
      // Publish until the reopened subscription has declared and bound the queue again.
      await expect
        .poll(
          async () => {
            await b.publish(topic, { headers: {}, body: bytes('again') })
            return got.includes('again')
          },
          { timeout: 10_000, interval: 200 },
        )
        .toBe(true)
    })

    it('uses an exchange that exists with other settings as it is', async () => {
      const exchange = unique('durable-ex')
      await withChannel((ch) => ch.assertExchange(exchange, 'topic', { durable: true }))
      try {
        const b = broker({ exchange, durableExchange: false })
        await b.connect()
        const topic = unique('t')
        const got: string[] = []
        await b.subscribe(topic, (e) => {
          got.push(text(e.message.body))
        })
        await b.publish(topic, { headers: {}, body: bytes('through') })
        await expect.poll(() => got).toEqual(['through'])
      } finally {
        await withChannel((ch) => ch.deleteExchange(exchange))
      }
    })
  })

  describe('ping (what /health/ready asks)', () => {
    it('503 before connect, answers while connected, 503 after disconnect', async () => {
      const b = broker()
      await expect(b.ping()).rejects.toMatchObject({ id: 'go.micro.broker', code: 503 })
      await b.connect()
      await b.ping()
      await b.disconnect()
      await expect(b.ping()).rejects.toMatchObject({ code: 503 })
    })
  })

  describe('errors', () => {
    it('wrong credentials are a 401 naming the server, without the password', async () => {
      const b = broker({ address: 'amqp://guest:wrong-secret@127.0.0.1:5672' })
      const err = await expectMicroError(b.connect())
      expect(err.code).toBe(401)
      expect(err.detail).toContain('127.0.0.1:5672')
      expect(err.detail).not.toContain('wrong-secret')
      expect(b.address()).toBe('')
    })

    it('an unknown vhost is a 403', async () => {
      const b = broker({ address: `amqp://guest:guest@127.0.0.1:5672/${unique('vhost')}` })
      expect((await expectMicroError(b.connect())).code).toBe(403)
    })

    it('an unreachable address is a 503; a server that never answers, a 503 after the connect timeout', async () => {
      const dead = await deadAddress()
      const refused = await expectMicroError(
        broker({ address: `amqp://${dead}`, connectTimeout: 30_000 }).connect(),
      )
      expect(refused.code).toBe(503)
      expect(refused.detail).toContain(`cannot reach amqp://${dead}`)
      expect(refused.detail).not.toMatch(/timed out/)

      const silent = await silentServer()
      try {
        const started = Date.now()
        const hung = await expectMicroError(
          broker({ address: `amqp://127.0.0.1:${silent.port}`, connectTimeout: 500 }).connect(),
        )
        expect(hung.code).toBe(503)
        // Not before the timeout (timers never fire early).
        expect(Date.now() - started).toBeGreaterThanOrEqual(500)
      } finally {
        await silent.close()
      }
    })

    it('bad topics, queues, messages and oversized headers are 400/413, and the broker keeps working', async () => {
      const b = broker()
      await b.connect()
      const topic = unique('bad')
      const got: string[] = []
      await b.subscribe(topic, (e) => {
        got.push(text(e.message.body))
      })
      expect(
        (await expectMicroError(b.publish('x'.repeat(256), { headers: {}, body: bytes('x') }))).code,
      ).toBe(400)
      expect((await expectMicroError(b.subscribe('x'.repeat(256), () => {}))).code).toBe(400)
      expect((await expectMicroError(b.subscribe(topic, () => {}, { queue: 'amq.mine' }))).code).toBe(400)
      expect((await expectMicroError(b.subscribe(topic, 'nope' as never))).code).toBe(400)
      expect(
        (await expectMicroError(b.publish(topic, { headers: { ['k'.repeat(256)]: 'v' }, body: bytes('x') })))
          .code,
      ).toBe(400)
      const big = { headers: { huge: 'h'.repeat(70_000) }, body: bytes('x') }
      expect((await expectMicroError(b.publish(topic, big))).code).toBe(413)
      await b.publish(topic, { headers: {}, body: bytes('still fine') })
      await expect.poll(() => got).toEqual(['still fine'])
    })

    it('a publish aborted by its signal is a 499', async () => {
      const b = broker()
      await b.connect()
      const ac = new AbortController()
      ac.abort()
      expect(
        (
          await expectMicroError(
            b.publish(unique('abort'), { headers: {}, body: bytes('x') }, { signal: ac.signal }),
          )
        ).code,
      ).toBe(499)
    })
  })

  describe('large messages', () => {
    it('an 8 MB publish resolves once RabbitMQ has confirmed it, and arrives whole on another connection', async () => {
      const publisher = broker()
      const subscriber = broker()
      await publisher.connect()
      await subscriber.connect()
      const topic = unique('eight-mb')
      const got: Uint8Array[] = []
      await subscriber.subscribe(
        topic,
        (e) => {
          got.push(new Uint8Array(e.message.body))
        },
        { queue: group('eight-mb') },
      )
      const body = randomBytes(8 * 1024 * 1024)
      await publisher.publish(topic, { headers: { 'x-size': String(body.byteLength) }, body })
      await expect.poll(() => got.length, { timeout: 20_000 }).toBe(1)
      expect(got[0].byteLength).toBe(body.byteLength)
      expect(digest(got[0])).toBe(digest(body))
    })

    it('a body over maxMessageSize is a 413 before anything is sent, and the broker goes on', async () => {
      const b = broker({ maxMessageSize: 1024 * 1024 })
      await b.connect()
      const topic = unique('over-limit')
      const got: number[] = []
      await b.subscribe(topic, (e) => {
        got.push(e.message.body.byteLength)
      })
      const err = await expectMicroError(
        b.publish(topic, { headers: {}, body: new Uint8Array(1024 * 1024 + 1) }),
        413,
      )
      expect(err.detail).toMatch(/over the limit of 1048576 bytes \(maxMessageSize\)/)
      await b.publish(topic, { headers: {}, body: new Uint8Array(1024 * 1024) })
      await expect.poll(() => got).toEqual([1024 * 1024])
    })
  })

  describe('connection loss (through a proxy that the test cuts)', () => {
    let proxy: CuttableProxy
    afterEach(async () => {
      await proxy?.cut()
    })

    it('reconnects, reopens its subscriptions and keeps publishing; publishes during the outage wait for it', async () => {
      proxy = new CuttableProxy()
      await proxy.restore()
      const logger = recordingLogger()
      const b = broker({ address: proxy.address(), reconnectMaxWait: 300, logger })
      await b.connect()
      const topic = unique('outage')
      const name = group('outage')
      const got = new Set<string>()
      const plain: string[] = []
      await b.subscribe(
        topic,
        (e) => {
          got.add(text(e.message.body))
        },
        { queue: name },
      )
      await b.subscribe(topic, (e) => {
        plain.push(text(e.message.body))
      })
      await b.publish(topic, { headers: {}, body: bytes('before') })
      await expect.poll(() => got.has('before')).toBe(true)

      await proxy.cut()
      const during = Array.from({ length: 20 }, (_, i) => `during-${i}`)
      const publishing = Promise.all(during.map((m) => b.publish(topic, { headers: {}, body: bytes(m) })))
      await sleep(700)
      await proxy.restore()
      await publishing
      await b.publish(topic, { headers: {}, body: bytes('after') })
      await expect.poll(() => [...got].sort()).toEqual(['after', 'before', ...during].sort())
      // The plain subscriber's new queue was bound before the held publishes went out.
      await expect.poll(() => [...plain].sort()).toEqual(['after', 'before', ...during].sort())
      expect(b.address()).not.toBe('')
      expect(logger.messages()).toContain('rabbitmq connection lost; reconnecting')
    })

    it('a publish fails with a 503 when the outage outlasts publishTimeout; nothing is dropped silently', async () => {
      proxy = new CuttableProxy()
      await proxy.restore()
      const b = broker({ address: proxy.address(), publishTimeout: 800, reconnectMaxWait: 200 })
      await b.connect()
      await proxy.cut()
      const started = Date.now()
      const err = await expectMicroError(b.publish(unique('timeout'), { headers: {}, body: bytes('x') }))
      expect([503, 504]).toContain(err.code)
      expect(Date.now() - started).toBeGreaterThanOrEqual(800)
    })

    it('disconnect() fails the publishes waiting for a connection with a 503', async () => {
      proxy = new CuttableProxy()
      await proxy.restore()
      const b = broker({ address: proxy.address(), publishTimeout: 30_000 })
      await b.connect()
      await proxy.cut()
      const waiting = expectMicroError(b.publish(unique('waiting'), { headers: {}, body: bytes('x') }))
      await sleep(200)
      await b.disconnect()
      expect((await waiting).code).toBe(503)
    })

    it('an ack after the connection dropped fails with a 503, and the message comes again', async () => {
      proxy = new CuttableProxy()
      await proxy.restore()
      const b = broker({ address: proxy.address(), reconnectMaxWait: 200 })
      await b.connect()
      const topic = unique('late-ack')
      const name = group('late-ack')
      const held: BrokerEvent[] = []
      await b.subscribe(
        topic,
        (e) => {
          held.push(e)
        },
        { queue: name, autoAck: false },
      )
      await b.publish(topic, { headers: {}, body: bytes('settle-me') })
      await expect.poll(() => held.length).toBe(1)
      proxy.reset()
      await sleep(100)
      const err = await expectMicroError(held[0].ack())
      expect(err.code).toBe(503)
      // Unacknowledged, so RabbitMQ redelivers it on the reopened subscription.
      await expect.poll(() => held.length, { timeout: 10_000 }).toBe(2)
      expect(text(held[1].message.body)).toBe('settle-me')
      expect((held[1] as BrokerEvent & { redelivered: boolean }).redelivered).toBe(true)
      await held[1].ack()
      await held[1].ack()
    })

    it('a handler that throws gets the message again; the second ack of an event does nothing', async () => {
      const b = broker()
      await b.connect()
      const topic = unique('nack')
      let calls = 0
      await b.subscribe(topic, async (e) => {
        calls++
        if (calls === 1) throw new Error('first delivery fails (expected by the test)')
        await e.ack()
      })
      await b.publish(topic, { headers: {}, body: bytes('x') })
      await expect.poll(() => calls).toBe(2)
      await sleep(300)
      expect(calls).toBe(2)
    })
  })
})

/** `rabbitmqctl list_bindings source_name destination_name routing_key` as rows. */
async function rabbitmqctlBindings(): Promise<string[][]> {
  return (
    await rabbitmqctl([
      'list_bindings',
      '-q',
      '--no-table-headers',
      'source_name',
      'destination_name',
      'routing_key',
    ])
  )
    .trim()
    .split('\n')
    .map((line) => line.split('\t'))
}

/** `rabbitmqctl list_queues name durable auto_delete exclusive` as rows. */
async function rabbitmqctlQueues(): Promise<string[][]> {
  try {
    return (
      await rabbitmqctl([
        'list_queues',
        '-q',
        '--no-table-headers',
        'name',
        'durable',
        'auto_delete',
        'exclusive',
      ])
    )
      .trim()
      .split('\n')
      .map((line) => line.split('\t'))
  } catch {
    return []
  }
}
