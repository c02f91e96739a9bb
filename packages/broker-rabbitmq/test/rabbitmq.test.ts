import { type BrokerEvent, isPluginDefinition, type Logger, MicroError, silentLogger } from '@micro-ts/core'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { topicMatches } from '../src/broker.js'
import plugin, {
  createRabbitMQBroker,
  type RabbitMQBroker,
  type RabbitMQBrokerOptions,
} from '../src/index.js'
import {
  ADDRESS,
  CuttableProxy,
  deleteQueues,
  inCI,
  PRIVATE_MAX_MESSAGE_SIZE,
  PrivateRabbitMQ,
  rabbitmqctl,
  rawPublish,
  serverReachable,
  silentServer,
  withChannel,
} from './helpers.js'

const reachable = await serverReachable()
const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
let seq = 0
const unique = (label: string) => `rmq-${run}-${label}-${++seq}`

/** Durable queues the tests create, deleted at the end. */
const groups: string[] = []
const group = (label: string) => {
  const name = unique(label)
  groups.push(name)
  return name
}

const brokers: RabbitMQBroker[] = []
function broker(options: RabbitMQBrokerOptions = {}): RabbitMQBroker {
  const b = createRabbitMQBroker({ address: ADDRESS, logger: silentLogger, ...options })
  brokers.push(b)
  return b
}

/** A logger that keeps the messages it is given, to check what the broker went through. */
function recordingLogger(): Logger & { messages: string[] } {
  const messages: string[] = []
  const log = (obj: object | string, msg?: string) => {
    messages.push(typeof obj === 'string' ? obj : (msg ?? ''))
  }
  const logger = { messages, debug: log, info: log, warn: log, error: log, child: () => logger }
  return logger
}

async function microError(p: Promise<unknown>): Promise<MicroError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(MicroError)
  return err as MicroError
}

afterEach(async () => {
  await Promise.allSettled(brokers.splice(0).map((b) => b.disconnect()))
})

afterAll(async () => {
  if (reachable) await deleteQueues(groups)
})

describe('topic matching', () => {
  it('follows AMQP topic bindings', () => {
    expect(topicMatches('a.b', 'a.b')).toBe(true)
    expect(topicMatches('a.*', 'a.b')).toBe(true)
    expect(topicMatches('a.*', 'a.b.c')).toBe(false)
    expect(topicMatches('a.#', 'a')).toBe(true)
    expect(topicMatches('a.#', 'a.b.c')).toBe(true)
    expect(topicMatches('#.c', 'a.b.c')).toBe(true)
    expect(topicMatches('#', 'anything.at.all')).toBe(true)
    expect(topicMatches('*.b', 'b')).toBe(false)
    expect(topicMatches('a.b', 'a.bc')).toBe(false)
  })
})

describe('plugin', () => {
  it('is a broker plugin named rabbitmq that takes options as strings', async () => {
    expect(isPluginDefinition(plugin)).toBe(true)
    expect(plugin.kind).toBe('broker')
    expect(plugin.name).toBe('rabbitmq')
    const b = (await plugin.create({
      addresses: ['amqp://u:secret@example.invalid:5673/vh'],
      options: { prefetch: '7', durableExchange: 'true', exchange: 'ex' },
      logger: silentLogger,
    })) as RabbitMQBroker
    expect(b.options.prefetch).toBe(7)
    expect(b.options.durableExchange).toBe(true)
    expect(b.options.exchange).toBe('ex')
    expect(b.options.displayAddress).toBe('amqp://u:***@example.invalid:5673/vh')
    expect(() =>
      plugin.create({ addresses: [], options: { prefetch: 'many' }, logger: silentLogger }),
    ).toThrow(MicroError)
  })

  it('a malformed address or option is a 400', () => {
    for (const options of [
      { address: 'http://127.0.0.1:5672' },
      { address: 'amqp://' },
      { prefetch: 0 },
      { exchange: 'amq.topic' },
      { publishTimeout: -1 },
    ]) {
      const err = (() => {
        try {
          createRabbitMQBroker(options)
        } catch (e) {
          return e
        }
      })()
      expect(err).toBeInstanceOf(MicroError)
      expect((err as MicroError).code).toBe(400)
    }
  })
})

describe.skipIf(!reachable)('rabbitmq broker', () => {
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
      const bindings = () => rabbitmqctlBindings().filter((row) => row[2] === topic)
      // Both queues are bound to the exchange with the topic as routing key.
      expect(bindings().map((row) => row[0])).toEqual(['micro', 'micro'])
      expect(bindings().map((row) => row[1])).toContain(name)
      await sub.unsubscribe()
      await plain.unsubscribe()
      // The group's queue outlives its members (and keeps their messages); it is durable.
      const q = await withChannel((ch) => ch.checkQueue(name))
      expect(q.queue).toBe(name)
      const listed = rabbitmqctlQueues().find((row) => row[0] === name)
      expect(listed?.slice(1)).toEqual(['true', 'false', 'false'])
      // The plain subscriber's queue went with it.
      expect(bindings().map((row) => row[1])).toEqual([name])
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
        .poll(() =>
          rabbitmqctl('list_queues', '-q', '--no-table-headers', 'name', 'messages')
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
      expect(
        rabbitmqctlQueues()
          .find((row) => row[0] === name)
          ?.slice(1),
      ).toEqual(['false', 'true', 'false'])
    })

    it('a subscription whose queue is deleted behind its back comes back by itself', async () => {
      const b = broker({ reconnectDelay: 50, reconnectMaxDelay: 200 })
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

  describe('errors', () => {
    it('wrong credentials are a 401 naming the server, without the password', async () => {
      const b = broker({ address: 'amqp://guest:wrong-secret@127.0.0.1:5672' })
      const err = await microError(b.connect())
      expect(err.code).toBe(401)
      expect(err.detail).toContain('127.0.0.1:5672')
      expect(err.detail).not.toContain('wrong-secret')
      expect(b.address()).toBe('')
    })

    it('an unknown vhost is a 403', async () => {
      const b = broker({ address: `amqp://guest:guest@127.0.0.1:5672/${unique('vhost')}` })
      expect((await microError(b.connect())).code).toBe(403)
    })

    it('an unreachable address is a 503 at once; a server that never answers, a 503 after the connect timeout', async () => {
      let started = Date.now()
      const refused = await microError(broker({ address: 'amqp://127.0.0.1:1' }).connect())
      expect(refused.code).toBe(503)
      expect(refused.detail).toMatch(/cannot reach amqp:\/\/127\.0\.0\.1:1/)
      expect(Date.now() - started).toBeLessThan(3000)

      const silent = await silentServer()
      try {
        started = Date.now()
        const hung = await microError(
          broker({ address: `amqp://127.0.0.1:${silent.port}`, connectTimeout: 500 }).connect(),
        )
        expect(hung.code).toBe(503)
        expect(Date.now() - started).toBeGreaterThanOrEqual(450)
        expect(Date.now() - started).toBeLessThan(5000)
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
      expect((await microError(b.publish('x'.repeat(256), { headers: {}, body: bytes('x') }))).code).toBe(400)
      expect((await microError(b.subscribe('x'.repeat(256), () => {}))).code).toBe(400)
      expect((await microError(b.subscribe(topic, () => {}, { queue: 'amq.mine' }))).code).toBe(400)
      expect((await microError(b.subscribe(topic, 'nope' as never))).code).toBe(400)
      expect(
        (await microError(b.publish(topic, { headers: { ['k'.repeat(256)]: 'v' }, body: bytes('x') }))).code,
      ).toBe(400)
      const big = { headers: { huge: 'h'.repeat(70_000) }, body: bytes('x') }
      expect((await microError(b.publish(topic, big))).code).toBe(413)
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
          await microError(
            b.publish(unique('abort'), { headers: {}, body: bytes('x') }, { signal: ac.signal }),
          )
        ).code,
      ).toBe(499)
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
      const b = broker({ address: proxy.address(), reconnectMaxDelay: 300, logger })
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
      expect(logger.messages).toContain('rabbitmq connection lost; reconnecting')
    })

    it('a publish fails with a 503 when the outage outlasts publishTimeout; nothing is dropped silently', async () => {
      proxy = new CuttableProxy()
      await proxy.restore()
      const b = broker({ address: proxy.address(), publishTimeout: 800, reconnectMaxDelay: 200 })
      await b.connect()
      await proxy.cut()
      const started = Date.now()
      const err = await microError(b.publish(unique('timeout'), { headers: {}, body: bytes('x') }))
      expect([503, 504]).toContain(err.code)
      expect(Date.now() - started).toBeGreaterThanOrEqual(700)
      expect(Date.now() - started).toBeLessThan(5000)
    })

    it('disconnect() fails the publishes waiting for a connection with a 503', async () => {
      proxy = new CuttableProxy()
      await proxy.restore()
      const b = broker({ address: proxy.address(), publishTimeout: 30_000 })
      await b.connect()
      await proxy.cut()
      const waiting = microError(b.publish(unique('waiting'), { headers: {}, body: bytes('x') }))
      await sleep(200)
      await b.disconnect()
      expect((await waiting).code).toBe(503)
    })

    it('an ack after the connection dropped fails with a 503, and the message comes again', async () => {
      proxy = new CuttableProxy()
      await proxy.restore()
      const b = broker({ address: proxy.address(), reconnectMaxDelay: 200 })
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
      const err = await microError(held[0].ack())
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

  if (!PrivateRabbitMQ.available()) {
    const why = 'rabbitmq-server/rabbitmqctl not installed: cannot start a private node for the restart test'
    if (inCI()) it('restart test prerequisites', () => expect.fail(`${why} (CI is set: no skipping)`))
    else console.warn(`\n!!! SKIPPING the RabbitMQ restart test: ${why}\n`)
  }
  describe.skipIf(!PrivateRabbitMQ.available())(
    'RabbitMQ restart (a private node: stop_app / start_app)',
    () => {
      let server: PrivateRabbitMQ | undefined
      afterAll(async () => {
        await server?.destroy()
      }, 60_000)

      it("a message over the server's max_message_size is a 413, and publishing goes on", async () => {
        server ??= await PrivateRabbitMQ.create()
        const b = broker({ address: server.address, publishTimeout: 10_000 })
        await b.connect()
        const topic = unique('too-big')
        const got: number[] = []
        await b.subscribe(topic, (e) => {
          got.push(e.message.body.byteLength)
        })
        const err = await microError(
          b.publish(topic, { headers: {}, body: new Uint8Array(PRIVATE_MAX_MESSAGE_SIZE + 1) }),
        )
        expect(err.code).toBe(413)
        expect(err.detail).toMatch(/max size/)
        await b.publish(topic, { headers: {}, body: new Uint8Array(1024) })
        await expect.poll(() => got).toEqual([1024])
      }, 90_000)

      it('under a steady publish loop, every confirmed message is delivered', async () => {
        server ??= await PrivateRabbitMQ.create()
        const logger = recordingLogger()
        const b = broker({ address: server.address, publishTimeout: 60_000, reconnectMaxDelay: 1000, logger })
        await b.connect()
        const topic = unique('restart')
        const delivered = new Set<string>()
        await b.subscribe(
          topic,
          (e) => {
            delivered.add(text(e.message.body))
          },
          { queue: 'restart-group' },
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
          await expect.poll(() => confirmed.length, { timeout: 10_000 }).toBeGreaterThan(50)
          await server.stopApp()
          await sleep(500)
        } finally {
          await server.startApp()
        }
        const before = confirmed.length
        await expect.poll(() => confirmed.length, { timeout: 30_000 }).toBeGreaterThan(before + 50)
        stop = true
        await loop
        for (const err of failed) expect(err).toBeInstanceOf(MicroError)
        await expect.poll(() => confirmed.filter((m) => !delivered.has(m)), { timeout: 20_000 }).toEqual([])
        expect(delivered.size).toBeGreaterThan(100)
        // The connection really dropped and came back.
        expect(logger.messages).toContain('rabbitmq connection lost; reconnecting')
        expect(logger.messages.filter((m) => m === 'rabbitmq connected').length).toBeGreaterThanOrEqual(2)
      }, 180_000)
    },
  )
})

/** `rabbitmqctl list_bindings source_name destination_name routing_key` as rows. */
function rabbitmqctlBindings(): string[][] {
  return rabbitmqctl(
    'list_bindings',
    '-q',
    '--no-table-headers',
    'source_name',
    'destination_name',
    'routing_key',
  )
    .trim()
    .split('\n')
    .map((line) => line.split('\t'))
}

/** `rabbitmqctl list_queues name durable auto_delete exclusive` as rows. */
function rabbitmqctlQueues(): string[][] {
  try {
    return rabbitmqctl(
      'list_queues',
      '-q',
      '--no-table-headers',
      'name',
      'durable',
      'auto_delete',
      'exclusive',
    )
      .trim()
      .split('\n')
      .map((line) => line.split('\t'))
  } catch {
    return []
  }
}
