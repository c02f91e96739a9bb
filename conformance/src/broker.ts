/**
 * The broker suite: go-micro's broker tests (headers and body equality, concurrent publishers
 * and subscribers) plus queue groups, isolation, volume, size, errors and the optional
 * delivery guarantees (Dapr's pub/sub checklist).
 */
import type {
  Broker,
  BrokerEvent,
  BrokerHandler,
  BrokerMessage,
  SubscribeOptions,
  Subscription,
} from '@micro-ts/core'
import { describe, expect, it } from 'vitest'
import { defineSuite, harness, has } from './suite.js'
import type { CommonOptions, SuiteSpec } from './types.js'
import {
  allBytes,
  eventually,
  expectBytes,
  expectMicroError,
  header,
  Inbox,
  randomBytes,
  size,
  sleep,
  text,
  uniqueName,
  utf8,
} from './util.js'

/**
 * - `queue`: queue groups (each message to exactly one member of a group; each group gets a
 *   copy). Every official broker has it. Absent: `subscribe(..., {queue})` rejects with a
 *   MicroError instead of silently broadcasting.
 * - `ack`: a handler that throws, or `nack()`, gets the message redelivered; `ack()` with
 *   `autoAck: false` settles it. Absent: a message is handed to a handler once, whatever the
 *   handler does.
 * - `ordered`: messages from one publisher (each `publish()` awaited) arrive in publish order.
 *   Absent: nothing is checked (a broker may happen to keep order).
 * - `persistent`: a queue group keeps the messages published while it has no member and hands
 *   them to the next member that joins. Absent: such messages are not delivered later.
 * - `shared`: instances from `create()` reach each other (one publishes, another's subscribers
 *   receive). Absent: they do not.
 */
export type BrokerCapability = 'queue' | 'ack' | 'ordered' | 'persistent' | 'shared'
export const BROKER_CAPABILITIES: readonly BrokerCapability[] = [
  'queue',
  'ack',
  'ordered',
  'persistent',
  'shared',
]

export interface BrokerConformanceOptions extends CommonOptions {
  /** How long a published message may take to reach a subscriber, ms (default 5 000). */
  deliveryTimeout?: number
  /**
   * How long the suite waits to be sure that nothing more arrives (no duplicate, no
   * redelivery, nothing on an unsubscribed handler), ms (default 500). Raise it for brokers
   * whose redelivery is slower than that, or the absent-`ack` case cannot see it.
   */
  quietPeriod?: number
  /** Pause after `subscribe()` before publishing, for brokers whose subscriptions go live asynchronously, ms (default 0). */
  subscribeSettle?: number
  /** Size of the large-message case, bytes (default 1 MiB; NATS' default max_payload is 1 MB). */
  largeMessageSize?: number
  /** Messages in the volume case (default 1 000). */
  messageCount?: number
}

export type BrokerConformanceSpec = SuiteSpec<Broker, BrokerCapability, BrokerConformanceOptions>

/** Register the broker conformance suite for one broker implementation. */
export function brokerConformance(spec: BrokerConformanceSpec): void {
  defineSuite('broker', spec, BROKER_CAPABILITIES, () => brokerSuite(spec))
}

/** What a test keeps of a delivery: a copy, because the event may be reused. */
interface Received {
  topic: string
  headers: Record<string, string>
  body: Uint8Array
  text: string
}

function received(event: BrokerEvent): Received {
  const body = new Uint8Array(event.message.body)
  return { topic: event.topic, headers: { ...event.message.headers }, body, text: text(body) }
}

function msg(body: string | Uint8Array, headers: Record<string, string> = {}): BrokerMessage {
  return { headers, body: typeof body === 'string' ? utf8(body) : body }
}

function counts(items: readonly Received[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const r of items) out.set(r.text, (out.get(r.text) ?? 0) + 1)
  return out
}

function range(n: number, label = 'm'): string[] {
  return Array.from({ length: n }, (_, i) => `${label}-${i}`)
}

function brokerSuite(spec: BrokerConformanceSpec): void {
  const o = spec.options ?? {}
  const delivery = o.deliveryTimeout ?? 5_000
  const quiet = o.quietPeriod ?? 500
  const settle = o.subscribeSettle ?? 0
  const large = o.largeMessageSize ?? 1024 * 1024
  const volume = o.messageCount ?? 1_000
  const h = harness('broker', spec, (b) => b.disconnect(), o.closeTimeout)

  async function connected(): Promise<Broker> {
    const broker = await h.fresh()
    await broker.connect()
    return broker
  }

  /** Subscribe with a handler that records every delivery (and may then throw). */
  async function collect(
    broker: Broker,
    topic: string,
    options: SubscribeOptions = {},
    then?: BrokerHandler,
  ): Promise<{ inbox: Inbox<Received>; sub: Subscription }> {
    const inbox = new Inbox<Received>()
    const sub = await broker.subscribe(
      topic,
      async (event) => {
        inbox.push(received(event))
        await then?.(event)
      },
      options,
    )
    // Hygiene only: a test may already have unsubscribed or disconnected (a hang still fails).
    h.defer(`unsubscribe ${topic}`, () => sub.unsubscribe().catch(() => {}))
    return { inbox, sub }
  }

  async function ready(): Promise<void> {
    if (settle > 0) await sleep(settle)
  }

  async function publishAll(
    broker: Broker,
    topic: string,
    bodies: readonly string[],
    parallel = 1,
  ): Promise<void> {
    for (let i = 0; i < bodies.length; i += parallel) {
      await Promise.all(bodies.slice(i, i + parallel).map((b) => broker.publish(topic, msg(b))))
    }
  }

  describe('lifecycle and errors', () => {
    it('publish before connect() rejects with a MicroError', async () => {
      const broker = await h.fresh()
      await expectMicroError(broker.publish(uniqueName('topic'), msg('x')))
    })

    it('publish after disconnect() rejects with a MicroError; connect/disconnect twice is harmless', async () => {
      const broker = await connected()
      await broker.connect()
      expect(typeof broker.address()).toBe('string')
      expect(broker.address()).not.toBe('')
      await broker.disconnect()
      await broker.disconnect()
      expect(broker.address()).toBe('')
      await expectMicroError(broker.publish(uniqueName('topic'), msg('x')))
    })

    it('an empty topic or a message that is not {headers, body: bytes} rejects with a 400 MicroError', async () => {
      const broker = await connected()
      await expectMicroError(broker.publish('', msg('x')), 400)
      const notBytes = { headers: {}, body: 'text' } as unknown as BrokerMessage
      await expectMicroError(broker.publish(uniqueName('topic'), notBytes), 400)
      const badHeaders = { headers: { n: 1 }, body: utf8('x') } as unknown as BrokerMessage
      await expectMicroError(broker.publish(uniqueName('topic'), badHeaders), 400)
    })
  })

  describe('delivery', () => {
    it('headers and a binary body round-trip, and the event names its topic (go-micro)', async () => {
      const broker = await connected()
      const topic = uniqueName('roundtrip')
      const { inbox } = await collect(broker, topic)
      await ready()
      const headers = {
        'X-Conformance': 'yes',
        'Content-Type': 'application/octet-stream',
        'x-spaces': 'a b = c: d; e',
        'x-unicode': 'ünïcödé 日本',
        'x-empty': '',
      }
      await broker.publish(topic, msg(allBytes(), headers))
      await broker.publish(topic, msg(new Uint8Array(0), { 'x-seq': 'empty' }))
      const [first, second] = await inbox.waitFor(2, delivery, 'messages')
      expect(first.topic).toBe(topic)
      for (const [k, v] of Object.entries(headers)) expect(header(first.headers, k), k).toBe(v)
      expectBytes(first.body, allBytes(), 'body')
      expect(header(second.headers, 'x-seq')).toBe('empty')
      expect(second.body.byteLength).toBe(0)
    })

    it('every subscriber gets every message (broadcast)', async () => {
      const broker = await connected()
      const topic = uniqueName('broadcast')
      const subs = [await collect(broker, topic), await collect(broker, topic), await collect(broker, topic)]
      await ready()
      const bodies = range(5)
      await publishAll(broker, topic, bodies)
      for (const { inbox } of subs) await inbox.waitFor(5, delivery, 'messages')
      await sleep(quiet)
      for (const { inbox } of subs)
        expect([...counts(inbox.items)].sort()).toEqual(bodies.map((b) => [b, 1]).sort())
    })

    it('unsubscribe stops delivery to that handler only; unsubscribing twice is harmless', async () => {
      const broker = await connected()
      const topic = uniqueName('unsub')
      const gone = await collect(broker, topic)
      const stays = await collect(broker, topic)
      await ready()
      await broker.publish(topic, msg('before'))
      await gone.inbox.waitFor(1, delivery, 'messages')
      await stays.inbox.waitFor(1, delivery, 'messages')
      await gone.sub.unsubscribe()
      await gone.sub.unsubscribe()
      await ready()
      await broker.publish(topic, msg('after'))
      await stays.inbox.waitFor(2, delivery, 'messages')
      await sleep(quiet)
      expect(gone.inbox.items.map((r) => r.text)).toEqual(['before'])
      expect(stays.inbox.items.map((r) => r.text).sort()).toEqual(['after', 'before'])
    })

    it('topics are isolated, including names that share a prefix', async () => {
      const broker = await connected()
      const base = uniqueName('iso')
      const topics = [base, `${base}.x`, `${base}-x`, `${base}x`]
      const subs = []
      for (const t of topics) subs.push(await collect(broker, t))
      await ready()
      for (const t of topics) await broker.publish(t, msg(t))
      for (const { inbox } of subs) await inbox.waitFor(1, delivery, 'messages')
      await sleep(quiet)
      for (const [i, { inbox }] of subs.entries()) {
        expect(inbox.items.map((r) => [r.topic, r.text])).toEqual([[topics[i], topics[i]]])
      }
    })

    it('a handler that throws does not stop later deliveries or reach the publisher', async () => {
      const broker = await connected()
      const topic = uniqueName('throws')
      const { inbox } = await collect(broker, topic, {}, (event) => {
        if (text(event.message.body) === 'bad') throw new Error('handler failure (expected by the test)')
      })
      await ready()
      await expect(broker.publish(topic, msg('bad'))).resolves.toBeUndefined()
      await inbox.waitFor(1, delivery, 'messages')
      await broker.publish(topic, msg('good'))
      await eventually(() => expect(inbox.items.map((r) => r.text)).toContain('good'), delivery)
    })

    it(`${volume} messages: none lost, none duplicated`, async () => {
      const broker = await connected()
      const topic = uniqueName('volume')
      const { inbox } = await collect(broker, topic)
      await ready()
      const bodies = range(volume)
      await publishAll(broker, topic, bodies, 50)
      await inbox.waitFor(volume, Math.max(delivery, volume * 20), 'messages')
      await sleep(quiet)
      const seen = counts(inbox.items)
      expect(seen.size).toBe(volume)
      expect([...seen.values()].every((n) => n === 1)).toBe(true)
    })

    it('concurrent publishers and subscribers: every subscriber gets every message once (go-micro)', async () => {
      const broker = await connected()
      const topic = uniqueName('concurrent')
      const subs = await Promise.all([1, 2, 3].map(() => collect(broker, topic)))
      await ready()
      const publishers = [0, 1, 2, 3].map((p) => publishAll(broker, topic, range(50, `p${p}`)))
      await Promise.all(publishers)
      for (const { inbox } of subs) await inbox.waitFor(200, delivery * 2, 'messages')
      await sleep(quiet)
      for (const { inbox } of subs) {
        const seen = counts(inbox.items)
        expect(seen.size).toBe(200)
        expect(inbox.length).toBe(200)
      }
    })

    it(`a ${size(large)} message round-trips`, async () => {
      const broker = await connected()
      const topic = uniqueName('large')
      const { inbox } = await collect(broker, topic)
      await ready()
      const body = randomBytes(large)
      await broker.publish(topic, msg(body, { 'x-size': String(large) }))
      const [r] = await inbox.waitFor(1, delivery * 2, 'messages')
      expect(header(r.headers, 'x-size')).toBe(String(large))
      expectBytes(r.body, body, 'large body')
    })
  })

  describe('queue', () => {
    if (!has(spec, 'queue')) {
      it('queue is not declared: subscribing with a queue rejects with a MicroError', async () => {
        const broker = await connected()
        await expectMicroError(
          broker.subscribe(uniqueName('queue'), () => {}, { queue: uniqueName('workers') }),
        )
      })
      return
    }

    it('a queue group gets each message exactly once, at one member', async () => {
      const broker = await connected()
      const topic = uniqueName('queue')
      const queue = uniqueName('workers')
      const members = [1, 2, 3].map(() => collect(broker, topic, { queue }))
      const group = await Promise.all(members)
      await ready()
      const bodies = range(30)
      await publishAll(broker, topic, bodies)
      const all = () => group.flatMap((m) => m.inbox.items)
      await eventually(() => expect(all().length).toBeGreaterThanOrEqual(30), delivery)
      await sleep(quiet)
      const seen = counts(all())
      expect(seen.size).toBe(30)
      expect(all().length).toBe(30)
      for (const m of group) expect(m.sub.queue).toBe(queue)
    })

    it('two queue groups and a plain subscriber each get every message', async () => {
      const broker = await connected()
      const topic = uniqueName('groups')
      const [qa, qb] = [uniqueName('group-a'), uniqueName('group-b')]
      const a = [await collect(broker, topic, { queue: qa }), await collect(broker, topic, { queue: qa })]
      const b = [await collect(broker, topic, { queue: qb }), await collect(broker, topic, { queue: qb })]
      const plain = await collect(broker, topic)
      await ready()
      const bodies = range(10)
      await publishAll(broker, topic, bodies)
      const items = (g: typeof a) => g.flatMap((m) => m.inbox.items)
      await eventually(() => {
        expect(items(a).length).toBeGreaterThanOrEqual(10)
        expect(items(b).length).toBeGreaterThanOrEqual(10)
        expect(plain.inbox.length).toBeGreaterThanOrEqual(10)
      }, delivery)
      await sleep(quiet)
      for (const got of [items(a), items(b), plain.inbox.items]) {
        expect(got.length).toBe(10)
        expect(counts(got).size).toBe(10)
      }
    })

    it('after a member unsubscribes, the rest of the group gets every message', async () => {
      const broker = await connected()
      const topic = uniqueName('queue-leave')
      const queue = uniqueName('workers')
      const leaving = await collect(broker, topic, { queue })
      const staying = await collect(broker, topic, { queue })
      await ready()
      await leaving.sub.unsubscribe()
      await ready()
      const bodies = range(10)
      await publishAll(broker, topic, bodies)
      await staying.inbox.waitFor(10, delivery, 'messages')
      await sleep(quiet)
      expect(leaving.inbox.length).toBe(0)
      expect(counts(staying.inbox.items).size).toBe(10)
      expect(staying.inbox.length).toBe(10)
    })
  })

  describe('ack', () => {
    if (!has(spec, 'ack')) {
      it('ack is not declared: a failing handler or nack() gets no redelivery', async () => {
        const broker = await connected()
        const topic = uniqueName('no-ack')
        const { inbox } = await collect(broker, topic, {}, (event) => {
          if (text(event.message.body) === 'fails') throw new Error('handler failure (expected by the test)')
        })
        const manual = await collect(broker, `${topic}-manual`, { autoAck: false }, (event) => event.nack())
        await ready()
        await broker.publish(topic, msg('fails'))
        await broker.publish(`${topic}-manual`, msg('nacked'))
        await broker.publish(topic, msg('barrier'))
        await inbox.waitFor(2, delivery, 'messages')
        await manual.inbox.waitFor(1, delivery, 'messages')
        await sleep(Math.max(quiet, 1_000))
        expect(counts(inbox.items).get('fails')).toBe(1)
        expect(manual.inbox.length).toBe(1)
      })
      return
    }

    it('a handler that throws gets the message redelivered until it succeeds', async () => {
      const broker = await connected()
      const topic = uniqueName('redeliver')
      let failures = 0
      let succeeded = false
      const { inbox } = await collect(broker, topic, {}, () => {
        if (failures < 2) {
          failures++
          throw new Error('handler failure (expected by the test)')
        }
        succeeded = true
      })
      await ready()
      await broker.publish(topic, msg('retry-me', { 'x-keep': 'header' }))
      await inbox.waitFor(3, delivery * 3, 'deliveries (two failures, then success)')
      expect(succeeded).toBe(true)
      for (const r of inbox.items) {
        expect(r.text).toBe('retry-me')
        expect(header(r.headers, 'x-keep')).toBe('header')
      }
      await sleep(quiet)
      expect(inbox.length).toBe(3)
    })

    it('with autoAck off, nack() redelivers and ack() settles the message', async () => {
      const broker = await connected()
      const topic = uniqueName('manual-ack')
      let deliveries = 0
      const { inbox } = await collect(broker, topic, { autoAck: false }, async (event) => {
        deliveries++
        if (deliveries === 1) await event.nack()
        else await event.ack()
      })
      await ready()
      await broker.publish(topic, msg('nack-then-ack'))
      await inbox.waitFor(2, delivery * 2, 'deliveries (nack, then ack)')
      await sleep(quiet)
      expect(inbox.items.map((r) => r.text)).toEqual(['nack-then-ack', 'nack-then-ack'])
    })
  })

  if (has(spec, 'ordered')) {
    describe('ordered', () => {
      it('messages from one publisher arrive in publish order', async () => {
        const broker = await connected()
        const topic = uniqueName('ordered')
        const { inbox } = await collect(broker, topic)
        await ready()
        const bodies = range(200)
        await publishAll(broker, topic, bodies)
        await inbox.waitFor(200, delivery * 2, 'messages')
        expect(inbox.items.map((r) => r.text)).toEqual(bodies)
      })
    })
  }

  describe('persistent', () => {
    async function leaveThenRejoin(): Promise<{ broker: Broker; topic: string; rejoined: Inbox<Received> }> {
      const broker = await connected()
      const topic = uniqueName('persist')
      const queue = uniqueName('durable')
      const first = await collect(broker, topic, { queue })
      await ready()
      await first.sub.unsubscribe()
      await broker.publish(topic, msg('while-away'))
      await sleep(Math.min(quiet, 200))
      const { inbox } = await collect(broker, topic, { queue })
      await ready()
      return { broker, topic, rejoined: inbox }
    }

    if (!has(spec, 'persistent')) {
      if (!has(spec, 'queue')) return
      it('persistent is not declared: a message published while a queue group has no member is not delivered later', async () => {
        const { broker, topic, rejoined } = await leaveThenRejoin()
        await broker.publish(topic, msg('after-rejoin'))
        await rejoined.waitFor(1, delivery, 'messages')
        await sleep(quiet)
        expect(rejoined.items.map((r) => r.text)).toEqual(['after-rejoin'])
      })
      return
    }

    it('a queue group keeps messages published while it has no member', async () => {
      const { rejoined } = await leaveThenRejoin()
      const [r] = await rejoined.waitFor(1, delivery, 'messages')
      expect(r.text).toBe('while-away')
    })
  })

  describe('shared', () => {
    if (!has(spec, 'shared')) {
      it('shared is not declared: instances do not exchange messages', async () => {
        const a = await connected()
        const b = await connected()
        const topic = uniqueName('not-shared')
        const { inbox } = await collect(a, topic)
        await ready()
        await b.publish(topic, msg('from-b'))
        await a.publish(topic, msg('from-a'))
        await inbox.waitFor(1, delivery, 'messages')
        await sleep(quiet)
        expect(inbox.items.map((r) => r.text)).toEqual(['from-a'])
      })
      return
    }

    it('a message published on one instance reaches subscribers on another', async () => {
      const a = await connected()
      const b = await connected()
      const topic = uniqueName('shared')
      const onA = await collect(a, topic)
      const onB = await collect(b, topic)
      await ready()
      await b.publish(topic, msg('from-b', { 'x-from': 'b' }))
      const [r] = await onA.inbox.waitFor(1, delivery, 'messages')
      expect(r.text).toBe('from-b')
      expect(header(r.headers, 'x-from')).toBe('b')
      await onB.inbox.waitFor(1, delivery, 'messages')
    })

    if (has(spec, 'queue')) {
      it('a queue group spread over instances gets each message exactly once', async () => {
        const a = await connected()
        const b = await connected()
        const topic = uniqueName('shared-queue')
        const queue = uniqueName('q')
        const group = [await collect(a, topic, { queue }), await collect(b, topic, { queue })]
        await ready()
        const bodies = range(20)
        await publishAll(a, topic, bodies.slice(0, 10))
        await publishAll(b, topic, bodies.slice(10))
        const all = () => group.flatMap((m) => m.inbox.items)
        await eventually(() => expect(all().length).toBeGreaterThanOrEqual(20), delivery)
        await sleep(quiet)
        expect(all().length).toBe(20)
        expect(counts(all()).size).toBe(20)
      })
    }

    it('after an instance disconnects its handlers get nothing, and the others still get every message', async () => {
      const a = await connected()
      const b = await connected()
      const c = await connected()
      const topic = uniqueName('shared-leave')
      const onA = await collect(a, topic)
      const onC = await collect(c, topic)
      await ready()
      await h.close(a)
      await ready()
      await b.publish(topic, msg('after-a-left'))
      await onC.inbox.waitFor(1, delivery, 'messages')
      await sleep(quiet)
      expect(onA.inbox.length).toBe(0)
      expect(onC.inbox.items.map((r) => r.text)).toEqual(['after-a-left'])
    })
  })
}
