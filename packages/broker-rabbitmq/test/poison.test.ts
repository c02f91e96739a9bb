/**
 * The poison-message rule against the shared RabbitMQ: an undecodable message is never
 * delivered again; a failing handler gets a bounded number of deliveries with back-off, then
 * the message is dead-lettered or dropped with one error line; the other messages keep flowing.
 */
import { eventually, type LogLine, recordingLogger, sleep, uniqueName } from '@micro-ts/conformance/testing'
import { rabbitmqctl } from '@micro-ts/conformance/testing/rabbitmq'
import {
  type BrokerEvent,
  createMemoryRegistry,
  createService,
  jsonCodec,
  type Logger,
  silentLogger,
} from '@micro-ts/core'
import type { GetMessage } from 'amqplib'
import { describe, expect, it } from 'vitest'
import { DELIVERIES_HEADER, ERROR_HEADER, type RabbitEvent } from '../src/index.js'
import { bytes, rawPublish, sharedRabbitMQ, testBrokers, testQueues, text, withChannel } from './helpers.js'

const reachable = await sharedRabbitMQ()
/** Queue groups (and their retry queues), deleted at the end. */
const queues = testQueues(() => reachable)
const group = (label: string) => queues.group(uniqueName(`poison-${label}`))
const broker = testBrokers()

/** What core's service subscriber does with a JSON message: a malformed body is a 400. */
const decodeJson = (e: BrokerEvent) => jsonCodec.decode(e.message.body)

const loud = (lines: LogLine[]) => lines.filter((l) => l.level === 'warn' || l.level === 'error')

async function queueNames(): Promise<string[]> {
  return (await rabbitmqctl(['list_queues', '-q', '--no-table-headers', 'name']))
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
}

/** The exclusive queues of the connection named `connectionName`. */
async function exclusiveQueues(connectionName: string): Promise<string[]> {
  const pid = (
    await rabbitmqctl(['list_connections', '-q', '--no-table-headers', 'pid', 'client_properties'])
  )
    .split('\n')
    .find((l) => l.includes(`"${connectionName}"`))
    ?.split('\t')[0]
  if (!pid) return []
  return (await rabbitmqctl(['list_queues', '-q', '--no-table-headers', 'name', 'owner_pid']))
    .split('\n')
    .map((l) => l.split('\t'))
    .filter(([, owner]) => owner === pid)
    .map(([queue]) => queue)
}

describe.runIf(reachable)('poison messages', () => {
  it('a message the handler cannot decode is delivered once, never again, and the messages behind it arrive', async () => {
    const logger = recordingLogger()
    const b = broker({ logger })
    await b.connect()
    const topic = uniqueName('undecodable')
    const seen: string[] = []
    const good: unknown[] = []
    await b.subscribe(
      topic,
      (e) => {
        seen.push(text(e.message.body))
        good.push(decodeJson(e))
      },
      { queue: group('undecodable') },
    )
    await b.publish(topic, { headers: { 'Content-Type': 'application/json' }, body: bytes('not json {') })
    for (let i = 0; i < 20; i++) await b.publish(topic, { headers: {}, body: bytes(JSON.stringify({ i })) })
    await eventually(() => expect(good).toHaveLength(20), 10_000)
    // Long enough for a redelivery (the first comes back after about 100 ms).
    await sleep(1500)
    expect(seen.filter((s) => s === 'not json {')).toHaveLength(1)
    const dropped = logger.lines.filter((l) => l.msg === 'broker message dropped')
    expect(dropped).toHaveLength(1)
    expect(dropped[0].level).toBe('error')
    expect(dropped[0].fields).toMatchObject({ topic, deliveries: 1 })
    expect(loud(logger.lines)).toHaveLength(1)
  })

  it('a non-JSON message on a service subscriber is dropped once; the good ones reach the handler', async () => {
    const logger = recordingLogger()
    const b = broker({ logger })
    const service = await createService({
      name: uniqueName('poison-svc'),
      registry: createMemoryRegistry(),
      broker: b,
      logger: silentLogger as Logger,
      env: { MICRO_SERVER_ADDRESS: '127.0.0.1:0' },
    })
    const topic = uniqueName('svc')
    const got: unknown[] = []
    service.subscribe(topic, async (body: unknown) => {
      got.push(body)
    })
    await service.start()
    try {
      // What a careless publisher sends: JSON by its content type, not by its body.
      await rawPublish('micro', topic, Buffer.from('\u0000\u0001 garbage'), {
        headers: { 'Content-Type': 'application/json' },
      })
      for (let i = 0; i < 10; i++) await service.client.publish(topic, { i })
      await eventually(() => expect(got).toHaveLength(10), 10_000)
      await sleep(1000)
      expect(got).toEqual(Array.from({ length: 10 }, (_, i) => ({ i })))
      expect(logger.lines.filter((l) => l.msg === 'broker message dropped')).toHaveLength(1)
    } finally {
      await service.stop()
    }
  })

  it('a handler that keeps failing gets maxDeliveries deliveries, each after a growing wait, then one error line', async () => {
    const logger = recordingLogger()
    const b = broker({ logger, maxDeliveries: 3, redeliveryWait: 200, redeliveryMaxWait: 2000 })
    await b.connect()
    const topic = uniqueName('failing')
    const deliveries: {
      at: number
      delivery: number
      redelivered: boolean
      headers: Record<string, string>
    }[] = []
    await b.subscribe(topic, (e) => {
      const ev = e as RabbitEvent
      deliveries.push({
        at: Date.now(),
        delivery: ev.delivery,
        redelivered: ev.redelivered,
        headers: { ...e.message.headers },
      })
      throw new Error('handler failure (expected by the test)')
    })
    await b.publish(topic, { headers: { 'x-keep': 'kept' }, body: bytes('always fails') })
    await eventually(() => expect(logger.messages()).toContain('broker message dropped'), 15_000)
    await sleep(1500)
    expect(deliveries.map((d) => d.delivery)).toEqual([1, 2, 3])
    expect(deliveries.map((d) => d.redelivered)).toEqual([false, true, true])
    // The copies carry the publisher's headers, and none of the broker's own.
    for (const d of deliveries) expect(d.headers).toEqual({ 'x-keep': 'kept' })
    // Back-off: 200 ms, then 400 ms, each with at most 20 % jitter (lower bounds only).
    expect(deliveries[1].at - deliveries[0].at).toBeGreaterThanOrEqual(160)
    expect(deliveries[2].at - deliveries[1].at).toBeGreaterThanOrEqual(320)
    expect(loud(logger.lines).map((l) => `${l.level} ${l.msg}`)).toEqual([
      expect.stringMatching(/^warn broker handler failed; message comes back in \d+ms \(delivery 1 of 3\)$/),
      'error broker message dropped',
    ])
  })

  it('nack() with autoAck off follows the same rule', async () => {
    const b = broker({ maxDeliveries: 2, redeliveryWait: 50 })
    await b.connect()
    const topic = uniqueName('nacked')
    const deliveries: number[] = []
    await b.subscribe(
      topic,
      async (e) => {
        deliveries.push((e as RabbitEvent).delivery)
        await e.nack()
      },
      { autoAck: false },
    )
    await b.publish(topic, { headers: {}, body: bytes('nack me') })
    await eventually(() => expect(deliveries).toEqual([1, 2]), 10_000)
    await sleep(1000)
    expect(deliveries).toEqual([1, 2])
  })

  it('32 poison messages (the prefetch) do not stop delivery: the next 100 good ones all arrive, the log stays bounded', async () => {
    const logger = recordingLogger()
    const b = broker({ logger, prefetch: 32, maxDeliveries: 4, redeliveryWait: 100, redeliveryMaxWait: 1000 })
    await b.connect()
    const topic = uniqueName('prefetch')
    const name = group('prefetch')
    const poison = new Map<string, number>()
    const good = new Set<string>()
    await b.subscribe(
      topic,
      (e) => {
        const body = text(e.message.body)
        if (body.startsWith('poison')) {
          poison.set(body, (poison.get(body) ?? 0) + 1)
          throw new Error('handler failure (expected by the test)')
        }
        good.add(body)
      },
      { queue: name },
    )
    for (let i = 0; i < 32; i++) await b.publish(topic, { headers: {}, body: bytes(`poison-${i}`) })
    for (let i = 0; i < 100; i++) await b.publish(topic, { headers: {}, body: bytes(`good-${i}`) })
    await eventually(() => expect(good.size).toBe(100), 15_000)
    await eventually(
      () => expect(logger.lines.filter((l) => l.msg === 'broker message dropped')).toHaveLength(32),
      20_000,
    )
    await sleep(1000)
    expect(poison.size).toBe(32)
    for (const [body, n] of poison) expect(n, body).toBe(4)
    // Two lines at warn or above per poison message (its first failure and its drop), none for the good ones.
    expect(loud(logger.lines)).toHaveLength(64)
    // Nothing is left behind: the group's queue and its retry queue are empty.
    const depth = await rabbitmqctl(['list_queues', '-q', '--no-table-headers', 'name', 'messages'])
    expect(depth).toContain(`${name}\t0`)
    expect(depth).toContain(`${name}.micro-retry\t0`)
  })

  it('with a dead-letter exchange, a message given up on goes there with its topic, body, headers and why', async () => {
    const dlx = uniqueName('dlx')
    const b = broker({ deadLetterExchange: dlx, maxDeliveries: 2, redeliveryWait: 50 })
    await b.connect()
    const topic = uniqueName('dead')
    const { queue } = await withChannel(async (ch) => {
      // The broker declared it (a durable topic exchange) when it connected.
      await ch.checkExchange(dlx)
      const q = await ch.assertQueue(uniqueName('dlx-q'), { durable: false })
      await ch.bindQueue(q.queue, dlx, '#')
      return q
    })
    queues.add(queue)
    try {
      await b.subscribe(topic, (e) => {
        if (text(e.message.body) === 'undecodable') decodeJson(e)
        throw new Error('still broken (expected by the test)')
      })
      await b.publish(topic, { headers: { 'x-keep': 'kept' }, body: bytes('failing') })
      await b.publish(topic, { headers: {}, body: bytes('undecodable') })
      const dead: GetMessage[] = []
      await eventually(async () => {
        await withChannel(async (ch) => {
          for (let m = await ch.get(queue, { noAck: true }); m; m = await ch.get(queue, { noAck: true }))
            dead.push(m)
        })
        expect(dead).toHaveLength(2)
      }, 10_000)
      expect(dead.map((m) => m.content.toString()).sort()).toEqual(['failing', 'undecodable'])
      const failing = dead.find((m) => m.content.toString() === 'failing')!
      expect(failing.fields.routingKey).toBe(topic)
      expect(failing.properties.headers).toMatchObject({ 'x-keep': 'kept', [DELIVERIES_HEADER]: 2 })
      expect(String(failing.properties.headers?.[ERROR_HEADER])).toMatch(/after 2 deliveries.*still broken/)
      const undecodable = dead.find((m) => m.content.toString() === 'undecodable')!
      expect(undecodable.properties.headers).toMatchObject({ [DELIVERIES_HEADER]: 1 })
      expect(String(undecodable.properties.headers?.[ERROR_HEADER])).toMatch(
        /undecodable.*malformed application\/json/,
      )
    } finally {
      await withChannel((ch) => ch.deleteExchange(dlx))
    }
  })

  it("a group's waiting retry outlives its members; a private subscriber's retry queue goes with it", async () => {
    const connectionName = uniqueName('retry-owner')
    // Long enough a wait for the copies to sit in their retry queues while the test looks.
    const b = broker({ redeliveryWait: 4000, redeliveryMaxWait: 4000, connectionName })
    await b.connect()
    const topic = uniqueName('outlives')
    const name = group('outlives')
    let failures = 0
    const fail = () => {
      failures++
      throw new Error('subscriber fails (expected by the test)')
    }
    const first = await b.subscribe(topic, fail, { queue: name })
    const plain = await b.subscribe(topic, fail)
    await b.publish(topic, { headers: {}, body: bytes('comes back') })
    await eventually(() => expect(failures).toBe(2), 5000)
    // Unsubscribing waits for the running handlers, so both copies are in their retry queues now.
    await first.unsubscribe()
    // The private queue and its retry queue (both exclusive to the connection); the group's retry queue.
    expect(await exclusiveQueues(connectionName)).toHaveLength(2)
    await plain.unsubscribe()
    expect(await exclusiveQueues(connectionName)).toEqual([])
    expect(await queueNames()).toContain(`${name}.micro-retry`)
    const again: number[] = []
    await b.subscribe(
      topic,
      (e) => {
        again.push((e as RabbitEvent).delivery)
      },
      { queue: name },
    )
    await eventually(() => expect(again).toEqual([2]), 10_000)
  }, 60_000)
})
