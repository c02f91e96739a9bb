/**
 * Broker delivery: headers and bodies round-trip, broadcast, unsubscribe, topic isolation,
 * failing handlers, volume, concurrency and large messages.
 */
import { describe, expect, it } from 'vitest'
import {
  allBytes,
  eventually,
  expectBytes,
  header,
  randomBytes,
  size,
  sleep,
  text,
  uniqueName,
} from '../util.js'
import { type BrokerSuite, counts, msg, range } from './context.js'

export function brokerDelivery(t: BrokerSuite): void {
  const { connected, collect, ready, publishAll, delivery, quiet, large, volume } = t

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
      for (const topic of topics) subs.push(await collect(broker, topic))
      await ready()
      for (const topic of topics) await broker.publish(topic, msg(topic))
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
}
